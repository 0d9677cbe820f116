package dev.calsync.api;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.Principal;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;

import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Authorises the actuator's details without Spring Security: a request to the management endpoints bearing the admin
 * token ({@code ADMIN_API_TOKEN}, or {@code APP_API_TOKEN} when that is unset) is made the request of the principal
 * {@value #PRINCIPAL} in the role {@value #ROLE}, which Spring Boot's actuator asks for through
 * {@link HttpServletRequest#getUserPrincipal()} and {@link HttpServletRequest#isUserInRole(String)} before it shows
 * health details ({@code management.endpoint.health.show-details: when-authorized}). Any other request passes on
 * unchanged (the status only): the filter never refuses one. An unset token authorises nobody. Constant-time
 * comparison.
 */
public class ActuatorTokenFilter extends OncePerRequestFilter {

    /** The principal a request bearing the admin token is made the request of. */
    public static final String PRINCIPAL = "calsync-admin";
    /** Its role: the one {@code management.endpoint.health.roles} names in the standalone service. */
    public static final String ROLE = "CALSYNC_ADMIN";

    private final byte[] adminToken;

    public ActuatorTokenFilter(String adminToken) {
        this.adminToken = adminToken.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        if (!ApiTokenFilter.matches(request.getHeader("Authorization"), adminToken)) {
            chain.doFilter(request, response);
            return;
        }
        chain.doFilter(new HttpServletRequestWrapper(request) {
            private final Principal principal = () -> PRINCIPAL;

            @Override
            public Principal getUserPrincipal() {
                return principal;
            }

            @Override
            public String getRemoteUser() {
                return PRINCIPAL;
            }

            @Override
            public boolean isUserInRole(String role) {
                return ROLE.equals(role);
            }
        }, response);
    }
}
