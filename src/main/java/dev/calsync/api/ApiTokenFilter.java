package dev.calsync.api;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.http.CalsyncPaths;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;
import org.springframework.web.util.UrlPathHelper;

/**
 * Bearer-token check for calsync's application API ({@code /api/v1/events/**}, {@code APP_API_TOKEN}) and admin API
 * ({@code /admin/notifications/**}, {@code /admin/reconcile/**}, {@code /admin/events/**}, {@code /admin/grants/**},
 * {@code /admin/summary};
 * {@code ADMIN_API_TOKEN}, or the application token when that is unset), while they are switched on
 * ({@link CalsyncPaths}). Other paths are not its business. An unset token refuses every request. Constant-time
 * comparison.
 */
@Component("apiTokenFilter")
@Order(Ordered.HIGHEST_PRECEDENCE + 20)
public class ApiTokenFilter extends OncePerRequestFilter {

    private final byte[] appToken;
    private final byte[] adminToken;
    private final CalsyncPaths paths;

    public ApiTokenFilter(CalsyncProperties properties) {
        this.paths = CalsyncPaths.of(properties);
        this.appToken = properties.api().token().getBytes(StandardCharsets.UTF_8);
        this.adminToken = properties.api().effectiveAdminToken().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        return !paths.isApi(path(request));
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        byte[] expected = paths.isAdminApi(path(request)) ? adminToken : appToken;
        if (!matches(request.getHeader("Authorization"), expected)) {
            response.setHeader("WWW-Authenticate", "Bearer");
            ErrorResponses.write(response, 401, "unauthorized", "a valid bearer token is required");
            return;
        }
        chain.doFilter(request, response);
    }

    /**
     * The path as Spring MVC (and so camel-platform-http) matches it: decoded, without {@code ;parameters}, so
     * {@code /admin;x/...} or {@code /%61dmin/...} cannot slip past the check.
     */
    public static String path(HttpServletRequest request) {
        return UrlPathHelper.defaultInstance.getLookupPathForRequest(request);
    }

    static boolean matches(String authorization, byte[] expected) {
        if (expected.length == 0 || authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        byte[] presented = authorization.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(presented, expected);
    }
}
