package dev.calsync.metrics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.Notifications;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The Grafana dashboard ({@code observability/grafana/dashboards/calsync.json}) shows only metrics the service
 * exports, and the backlog gauges tell the state of the database.
 */
class DashboardMetricsTest extends IntegrationTest {

    static final Path DASHBOARD = Path.of("observability/grafana/dashboards/calsync.json");
    static final String GRANT = "grant-dash";

    @Test
    void everyMetricTheDashboardQueriesIsExported() throws IOException {
        // Given traffic that makes every metric family exist: a notification processed, a dead letter, a push
        generateTraffic();

        // When the dashboard's queries are read and the service is scraped
        List<String> queries = dashboardQueries();
        Scrape scrape = Scrape.of(prometheus());

        // Then every metric a query names is exported
        assertThat(queries).hasSizeGreaterThanOrEqualTo(10);
        Map<String, Set<String>> missing = new LinkedHashMap<>();
        for (String query : queries) {
            Set<String> names = PromQl.metricNames(query);
            assertThat(names).as("metrics named by %s", query).isNotEmpty();
            names.stream().filter(name -> !scrape.exports(name))
                    .forEach(name -> missing.computeIfAbsent(name, n -> new TreeSet<>()).add(query));
        }
        assertThat(missing).as("metrics the dashboard queries but the service does not export").isEmpty();
    }

    @Test
    void aQueryNamingAMetricThatDoesNotExistIsCaught() {
        Scrape scrape = Scrape.of(prometheus());

        assertThat(PromQl.metricNames("sum(rate(calsync_no_such_metric_total[5m]))").stream()
                .filter(name -> !scrape.exports(name))).containsExactly("calsync_no_such_metric_total");
        // a histogram's series exist only with its own suffixes
        assertThat(scrape.exports("calsync_ack_to_applied_seconds_bucket")).isTrue();
        assertThat(scrape.exports("calsync_ack_to_applied_seconds_count")).isTrue();
        assertThat(scrape.exports("calsync_ack_to_applied_seconds")).isFalse();
        assertThat(scrape.exports("calsync_dead_letters_bucket")).isFalse();
    }

    @Test
    void metricNamesAreReadFromPromQl() {
        assertThat(PromQl.metricNames("histogram_quantile(0.99, sum by (le) "
                + "(rate(calsync_ack_to_applied_seconds_bucket{job=~\"$job\"}[$__rate_interval])))"))
                .containsExactly("calsync_ack_to_applied_seconds_bucket");
        assertThat(PromQl.metricNames("max by (state) (calsync_push_backlog{state=\"failed\"}) "
                + "/ on (instance) group_left sum without (le) (rate(camel_x_count[5m] offset 1h)) > bool 2"))
                .containsExactly("calsync_push_backlog", "camel_x_count");
    }

    @Test
    void backlogGaugesTellTheDatabasesState() {
        // Given a dead letter, a failed push, a paused grant, a notification being processed (claimed ten minutes
        // after it was acknowledged, with a long lease) and one waiting two hours for its retry
        generateTraffic();
        deliverAndWait("grant.expired", Map.of("grant_id", "grant-paused"));
        jdbc.update("""
                INSERT INTO webhook_inbox (notification_id, type, grant_id, payload, status, received_at, lease_until,
                                           claim_token, attempts)
                VALUES ('ntf-claimed', 'event.updated', ?, '{}', 'processing', now() - interval '10 minutes',
                        now() + interval '1 hour', 'someone-else', 1)""", GRANT);
        jdbc.update("""
                INSERT INTO webhook_inbox (notification_id, type, grant_id, payload, status, received_at,
                                           next_attempt_at, attempts)
                VALUES ('ntf-later', 'event.updated', ?, '{}', 'received', now() - interval '2 hours',
                        now() + interval '1 hour', 1)""", GRANT);

        // Then the gauges count them (the snapshot is at most calsync.metrics.refresh-interval old)
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            String body = prometheus();
            assertThat(sample(body, "calsync_dead_letters", "")).isEqualTo(1.0);
            assertThat(sample(body, "calsync_push_backlog", "state=\"failed\"")).isEqualTo(1.0);
            assertThat(sample(body, "calsync_push_backlog", "state=\"pending\"")).isEqualTo(0.0);
            assertThat(sample(body, "calsync_paused_grants", "")).isEqualTo(1.0);
            assertThat(sample(body, "calsync_inbox_backlog", "status=\"processing\"")).isEqualTo(1.0);
            assertThat(sample(body, "calsync_inbox_backlog", "status=\"received\"")).isEqualTo(1.0);
            // the oldest due one is the one being processed; the older one waiting for its retry is not due
            assertThat(sample(body, "calsync_inbox_oldest_due_age_seconds", "")).isBetween(600.0, 900.0);
        });
    }

    @Test
    void oldestDueAgeIsZeroWithNothingDueAndAckToAppliedCountsEachProcessedNotification() {
        double before = sample(prometheus(), "calsync_ack_to_applied_seconds_count", "");

        deliverAndWait("event.created", event(GRANT, "evt-a", "One", 100));
        deliverAndWait("event.created", event(GRANT, "evt-b", "Two", 100));

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            String body = prometheus();
            assertThat(sample(body, "calsync_inbox_oldest_due_age_seconds", "")).isEqualTo(0.0);
            assertThat(sample(body, "calsync_inbox_backlog", "status=\"received\"")).isEqualTo(0.0);
            assertThat(sample(body, "calsync_ack_to_applied_seconds_count", "")).isEqualTo(before + 2);
        });
    }

    @Test
    void circuitStateIsOneSeriesPerStateCountingTheGrantsCircuits() {
        deliverAndWait("event.created", event(GRANT, "evt-c", "Circuit", 100));
        apiPut("/api/v1/events/rec-circuit", appEvent("Pushed"));
        await().atMost(Duration.ofSeconds(30)).until(() -> "synced".equals(pushState("rec-circuit")));

        String body = prometheus();
        assertThat(sample(body, "calsync_nylas_circuit_state", "state=\"closed\"")).isEqualTo(1.0);
        assertThat(sample(body, "calsync_nylas_circuit_state", "state=\"open\"")).isEqualTo(0.0);
        assertThat(sample(body, "calsync_nylas_circuit_state", "state=\"half_open\"")).isEqualTo(0.0);
        assertThat(Pattern.compile("(?m)^calsync_nylas_circuit_state\\{").matcher(body).results().count())
                .isEqualTo(3);
    }

    /** A processed notification, a dead letter, a successful push and a failed one. */
    private void generateTraffic() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "Processed", 100));

        NYLAS.putEvent(event(GRANT, "evt-2", "Never fetched", 300));
        NYLAS.failNext(500, 500, 500);
        String dead = newId();
        assertThat(deliver(envelope(dead, "event.updated.truncated", Notifications.deletedEvent(GRANT, "evt-2")))
                .statusCode()).isEqualTo(200);
        awaitStatus(dead, "dead");

        assertThat(apiPut("/api/v1/events/rec-pushed", appEvent("Pushed")).statusCode()).isEqualTo(201);
        await().atMost(Duration.ofSeconds(30)).until(() -> "synced".equals(pushState("rec-pushed")));
        NYLAS.failNext(400);
        assertThat(apiPut("/api/v1/events/rec-refused", appEvent("Refused")).statusCode()).isEqualTo(201);
        await().atMost(Duration.ofSeconds(30)).until(() -> "failed".equals(pushState("rec-refused")));
    }

    private Map<String, Object> appEvent(String title) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("grant_id", GRANT);
        body.put("calendar_id", "primary");
        body.put("title", title);
        body.put("when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_003_600L));
        return body;
    }

    private String pushState(String recordId) {
        List<String> states = jdbc.queryForList("SELECT sync_state FROM event_sync_map WHERE internal_id = ?",
                String.class, recordId);
        return states.isEmpty() ? null : states.get(0);
    }

    private String prometheus() {
        var response = managementGet("/actuator/prometheus", null);
        assertThat(response.statusCode()).isEqualTo(200);
        return response.body();
    }

    /** Every {@code expr} of the dashboard's panels' targets. */
    static List<String> dashboardQueries() throws IOException {
        JsonNode dashboard = new ObjectMapper().readTree(Files.readString(DASHBOARD));
        List<String> queries = new ArrayList<>();
        collectExpressions(dashboard, queries);
        return queries;
    }

    private static void collectExpressions(JsonNode node, List<String> into) {
        if (node.isObject()) {
            node.properties().forEach(field -> {
                if (field.getKey().equals("expr") && field.getValue().isTextual()) {
                    into.add(field.getValue().asText());
                } else {
                    collectExpressions(field.getValue(), into);
                }
            });
        } else if (node.isArray()) {
            node.forEach(child -> collectExpressions(child, into));
        }
    }

    /** The value of the one sample of {@code name} whose labels contain {@code labels} ("" for any). */
    static double sample(String body, String name, String labels) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{([^}]*)})? (\\S+)$").matcher(body);
        List<Double> values = new ArrayList<>();
        while (m.find()) {
            String found = m.group(2) == null ? "" : m.group(2);
            if (found.contains(labels)) {
                values.add(Double.parseDouble(m.group(3)));
            }
        }
        assertThat(values).as("samples of %s{%s}", name, labels).hasSize(1);
        return values.get(0);
    }

    /** The Prometheus text exposition: the sample names and the declared type of each family. */
    record Scrape(Set<String> samples, Map<String, String> types) {

        static Scrape of(String body) {
            Set<String> samples = new TreeSet<>();
            Map<String, String> types = new LinkedHashMap<>();
            for (String line : body.split("\n")) {
                if (line.startsWith("# TYPE ")) {
                    String[] parts = line.split(" ");
                    types.put(parts[2], parts[3]);
                } else if (!line.isBlank() && !line.startsWith("#")) {
                    samples.add(line.split("[{ ]", 2)[0]);
                }
            }
            return new Scrape(samples, types);
        }

        /**
         * Whether a query naming this series finds it: the series is exported, and a {@code _bucket}, {@code _sum}
         * or {@code _count} series belongs to a histogram (or, but for {@code _bucket}, a summary) family of that
         * name, unless a family is itself declared under the full name.
         */
        boolean exports(String name) {
            if (!samples.contains(name)) {
                return false;
            }
            if (types.containsKey(name)) {
                return true;
            }
            for (String suffix : List.of("_bucket", "_sum", "_count")) {
                if (name.endsWith(suffix)) {
                    String type = types.get(name.substring(0, name.length() - suffix.length()));
                    return "histogram".equals(type) || (!suffix.equals("_bucket") && "summary".equals(type));
                }
            }
            return true; // a counter's _total series, or a family without a TYPE line
        }
    }

    /**
     * The metric names a PromQL expression selects. Written by hand because no maintained Java library parses
     * PromQL; it knows the language's words (functions and aggregations are followed by a bracket or are
     * aggregations; label lists after by/without/on/ignoring/group_left/group_right are labels) and skips strings,
     * label matchers, ranges, numbers, durations and Grafana's $variables.
     */
    static final class PromQl {

        private static final Set<String> AGGREGATIONS = Set.of("sum", "min", "max", "avg", "group", "stddev",
                "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio");
        private static final Set<String> LABEL_LISTS = Set.of("by", "without", "on", "ignoring", "group_left",
                "group_right");
        private static final Set<String> KEYWORDS = Set.of("and", "or", "unless", "offset", "bool", "atan2", "inf",
                "nan", "Inf", "NaN");

        static Set<String> metricNames(String expr) {
            Set<String> names = new TreeSet<>();
            int i = 0;
            int n = expr.length();
            while (i < n) {
                char c = expr.charAt(i);
                if (c == '"' || c == '\'' || c == '`') {
                    i = skipString(expr, i);
                } else if (c == '{') {
                    i = skipBlock(expr, i, '}');
                } else if (c == '[') {
                    i = skipBlock(expr, i, ']');
                } else if (c == '$' || Character.isDigit(c) || c == '.') {
                    i++; // a Grafana variable, a number or a duration: a word that is no name
                    while (i < n && (Character.isLetterOrDigit(expr.charAt(i)) || expr.charAt(i) == '_'
                            || expr.charAt(i) == '.')) {
                        i++;
                    }
                } else if (Character.isLetter(c) || c == '_' || c == ':') {
                    int start = i;
                    while (i < n && (Character.isLetterOrDigit(expr.charAt(i)) || expr.charAt(i) == '_'
                            || expr.charAt(i) == ':')) {
                        i++;
                    }
                    String word = expr.substring(start, i);
                    int next = i;
                    while (next < n && Character.isWhitespace(expr.charAt(next))) {
                        next++;
                    }
                    boolean call = next < n && expr.charAt(next) == '(';
                    if (LABEL_LISTS.contains(word)) {
                        if (call) {
                            i = skipBlock(expr, next, ')');
                        }
                    } else if (!call && !AGGREGATIONS.contains(word) && !KEYWORDS.contains(word)) {
                        names.add(word);
                    }
                } else {
                    i++;
                }
            }
            return names;
        }

        private static int skipString(String expr, int i) {
            char quote = expr.charAt(i++);
            while (i < expr.length() && expr.charAt(i) != quote) {
                i += expr.charAt(i) == '\\' ? 2 : 1;
            }
            return i + 1;
        }

        private static int skipBlock(String expr, int i, char close) {
            i++;
            while (i < expr.length() && expr.charAt(i) != close) {
                char c = expr.charAt(i);
                i = c == '"' || c == '\'' || c == '`' ? skipString(expr, i) : i + 1;
            }
            return i + 1;
        }
    }
}
