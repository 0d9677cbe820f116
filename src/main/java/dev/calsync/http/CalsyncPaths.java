package dev.calsync.http;

import java.util.ArrayList;
import java.util.List;

import dev.calsync.config.CalsyncProperties;

/**
 * The HTTP paths calsync serves, as the routes declare them (each under {@code calsync.http.base-path}, empty by
 * default), and which of them are switched on: the webhook ({@code calsync.webhook.enabled}), the application API and
 * the admin API ({@code calsync.api.enabled}; {@code /admin/reconcile} also needs {@code calsync.reconcile.enabled}).
 * The servlet filters in front of the routes act on these paths only, so other paths served by the same server (a
 * host application's own) are left alone.
 */
public final class CalsyncPaths {

    /** The webhook's path below the base path (routes/webhook.camel.yaml). */
    public static final String WEBHOOK = "/webhooks/nylas";
    /** The application API's path below the base path (routes/api.camel.yaml). */
    public static final String APPLICATION_API = "/api/v1/events";
    private static final List<String> ADMIN_API = List.of("/admin/notifications", "/admin/events", "/admin/grants",
            "/admin/summary");
    private static final String ADMIN_RECONCILE = "/admin/reconcile";

    private final String webhook;
    private final boolean webhookEnabled;
    private final List<String> applicationApi = new ArrayList<>();
    private final List<String> adminApi = new ArrayList<>();

    private CalsyncPaths(CalsyncProperties properties) {
        String base = properties.http().basePath();
        this.webhook = base + WEBHOOK;
        this.webhookEnabled = properties.webhook().enabled();
        if (properties.api().enabled()) {
            applicationApi.add(base + APPLICATION_API);
            ADMIN_API.forEach(path -> adminApi.add(base + path));
            if (properties.reconcile().enabled()) {
                adminApi.add(base + ADMIN_RECONCILE);
            }
        }
    }

    public static CalsyncPaths of(CalsyncProperties properties) {
        return new CalsyncPaths(properties);
    }

    /** The webhook's path, under the base path. */
    public String webhook() {
        return webhook;
    }

    /** Whether the webhook is served on this instance. */
    public boolean webhookEnabled() {
        return webhookEnabled;
    }

    /** Whether {@code path} is the webhook's, and the webhook is switched on. */
    public boolean isWebhook(String path) {
        return webhookEnabled && webhook.equals(path);
    }

    /** Whether {@code path} is one of the application or admin API's, and that API is switched on. */
    public boolean isApi(String path) {
        return isAdminApi(path) || applicationApi.stream().anyMatch(prefix -> under(path, prefix));
    }

    /** Whether {@code path} is one of the admin API's, and the admin API is switched on. */
    public boolean isAdminApi(String path) {
        return adminApi.stream().anyMatch(prefix -> under(path, prefix));
    }

    /**
     * The servlet URL patterns calsync's filters are registered for: the webhook and each API prefix that is switched
     * on, under the base path ({@code /admin/grants/*} also matches {@code /admin/grants} itself). Empty when nothing
     * is served. The servlet container maps a request by its decoded, normalised path, as the router does, and each
     * filter still checks the path itself ({@code shouldNotFilter}).
     */
    public List<String> servletUrlPatterns() {
        List<String> patterns = new ArrayList<>();
        if (webhookEnabled) {
            patterns.add(webhook);
        }
        applicationApi.forEach(prefix -> patterns.add(prefix + "/*"));
        adminApi.forEach(prefix -> patterns.add(prefix + "/*"));
        return List.copyOf(patterns);
    }

    /** {@code prefix} itself or a path below it (never a longer name beside it: /api/v1/eventsX is not below). */
    private static boolean under(String path, String prefix) {
        return path.startsWith(prefix) && (path.length() == prefix.length() || path.charAt(prefix.length()) == '/');
    }
}
