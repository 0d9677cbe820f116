package dev.calsync.api;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.support.IntegrationTest;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;

/** The read API of the local records: bearer token, the record shape with its sync state, pages. */
class AppEventsApiTest extends IntegrationTest {

    private final ObjectMapper json = new ObjectMapper();

    private String createdFromCalendar(String grant, String eventId, String title) {
        String id = newId();
        deliver(envelope(id, "event.created", event(grant, eventId, title, 100)));
        awaitStatus(id, "processed");
        return (String) localRecordByEvent(grant, eventId).get("id");
    }

    @Test
    void recordCarriesTheNylasShapeWithItsEventIdAndSyncState() throws Exception {
        String recordId = createdFromCalendar("grant-1", "evt-1", "Standup");

        HttpResponse<String> response = apiGet("/api/v1/events/" + recordId, API_TOKEN);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type")).hasValue("application/json");
        JsonNode record = json.readTree(response.body());
        assertThat(record.path("id").asText()).isEqualTo(recordId);
        assertThat(record.path("grant_id").asText()).isEqualTo("grant-1");
        assertThat(record.path("calendar_id").asText()).isEqualTo("primary");
        assertThat(record.path("title").asText()).isEqualTo("Standup");
        assertThat(record.path("when").path("start_time").asLong()).isEqualTo(1_790_000_000L);
        assertThat(record.path("participants").get(0).path("email").asText()).isEqualTo("ada@example.com");
        assertThat(record.path("nylas_event_id").asText()).isEqualTo("evt-1");
        assertThat(record.path("sync_state").asText()).isEqualTo("synced");
    }

    @Test
    void unknownRecordIsNotFound() {
        HttpResponse<String> response = apiGet("/api/v1/events/nope", API_TOKEN);

        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(response.body()).isEqualTo("{\"error\":\"not_found\",\"message\":\"no event with id nope\"}");
    }

    @Test
    void missingOrWrongTokenIsUnauthorized() {
        assertThat(apiGet("/api/v1/events", null).statusCode()).isEqualTo(401);
        assertThat(apiGet("/api/v1/events", "wrong").statusCode()).isEqualTo(401);
        assertThat(apiGet("/admin/notifications", API_TOKEN).statusCode()).as("admin needs the admin token")
                .isEqualTo(401);
    }

    @Test
    void encodedOrParameterisedPathsCannotSkipTheTokenCheck() {
        assertThat(apiGet("/admin;x=1/notifications?status=dead", null).statusCode()).isEqualTo(401);
        assertThat(apiGet("/%61dmin/notifications?status=dead", null).statusCode()).isEqualTo(401);
        assertThat(apiGet("/api;x/v1/events", null).statusCode()).isEqualTo(401);
        assertThat(apiGet("/%61pi/v1/events", null).statusCode()).isEqualTo(401);
    }

    @Test
    void listPagesThroughOneCalendarWithTheCursor() throws Exception {
        for (int i = 0; i < 5; i++) {
            createdFromCalendar("grant-1", "evt-" + i, "Event " + i);
        }
        createdFromCalendar("grant-2", "evt-x", "Other grant");

        List<String> titles = new ArrayList<>();
        String cursor = null;
        int pages = 0;
        do {
            String query = "/api/v1/events?grant_id=grant-1&calendar_id=primary&limit=2"
                    + (cursor == null ? "" : "&cursor=" + cursor);
            JsonNode page = json.readTree(apiGet(query, API_TOKEN).body());
            page.path("data").forEach(r -> titles.add(r.path("title").asText()));
            cursor = page.path("next_cursor").isNull() ? null : page.path("next_cursor").asText();
            pages++;
        } while (cursor != null);

        assertThat(pages).isEqualTo(3);
        assertThat(titles).containsExactlyInAnyOrder("Event 0", "Event 1", "Event 2", "Event 3", "Event 4");
    }

    @Test
    void badPagingParametersAreNamed() {
        HttpResponse<String> limit = apiGet("/api/v1/events?limit=500", API_TOKEN);
        HttpResponse<String> cursor = apiGet("/api/v1/events?cursor=%25%25", API_TOKEN);

        assertThat(limit.statusCode()).isEqualTo(400);
        assertThat(limit.body()).contains("invalid_limit");
        assertThat(cursor.statusCode()).isEqualTo(400);
        assertThat(cursor.body()).contains("invalid_cursor");
    }
}
