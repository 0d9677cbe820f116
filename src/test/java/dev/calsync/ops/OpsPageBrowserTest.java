package dev.calsync.ops;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.Notifications;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * The operator page in a real headless browser (Debian's Chromium and ChromeDriver, {@code apt-get install chromium
 * chromium-driver}), against the whole service: the operator enters the admin token, resumes a paused grant, replays
 * dead letters in bulk and reads a reconciliation run's plan, and the database agrees with what the page shows.
 * Without the browser the tests are skipped, unless {@code CALSYNC_REQUIRE_BROWSER=1} (CI) makes that a failure.
 */
class OpsPageBrowserTest extends IntegrationTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final ObjectMapper JSON = new ObjectMapper();

    private WebDriver browser;
    private WebDriverWait wait;
    private Path profile;

    @BeforeAll
    static void browserIsInstalled() {
        if (Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER)) {
            return;
        }
        String message = "the operator page's browser test needs " + CHROMIUM + " and " + CHROMEDRIVER
                + " (apt-get install chromium chromium-driver)";
        if ("1".equals(System.getenv("CALSYNC_REQUIRE_BROWSER"))) {
            fail(message + "; CALSYNC_REQUIRE_BROWSER=1 makes their absence a failure");
        }
        Assumptions.abort(message + "; skipped");
    }

    @BeforeEach
    void openBrowser() throws IOException {
        profile = Files.createTempDirectory("calsync-chromium-");
        // both paths given, so Selenium Manager looks nothing up and downloads nothing
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--user-data-dir=" + profile);
        browser = new ChromeDriver(service, options);
        wait = new WebDriverWait(browser, Duration.ofSeconds(20));
    }

    @AfterEach
    void closeBrowser() throws IOException {
        if (browser != null) {
            browser.quit();
        }
        if (profile != null) {
            try (Stream<Path> files = Files.walk(profile)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void aPausedGrantIsHighlightedAndResumedFromThePage() {
        // Given a paused grant and an active one
        deliverAndWait("grant.expired", Map.of("grant_id", "grant-paused"));
        jdbc.update("INSERT INTO grant_sync_state (grant_id, state, reason) VALUES ('grant-active', 'active', 'grant.updated')");
        assertThat(grantState("grant-paused")).isEqualTo("paused");

        // When the operator opens the page with the token
        signIn(ADMIN_TOKEN);

        // Then both grants are listed and the paused one is highlighted, with a resume button
        WebElement paused = wait.until(ExpectedConditions.presenceOfElementLocated(grantRow("grant-paused")));
        wait.until(ExpectedConditions.presenceOfElementLocated(grantRow("grant-active")));
        assertThat(paused.getAttribute("class")).contains("paused");
        assertThat(browser.findElement(grantRow("grant-active")).findElements(By.cssSelector("button.resume")))
                .isEmpty();
        assertThat(text("summary")).contains("Grants paused").contains("1");

        // When the operator resumes it
        paused.findElement(By.cssSelector("button.resume")).click();

        // Then the page shows it active, and so does the database
        wait.until(ExpectedConditions.attributeToBe(grantRow("grant-paused"), "data-state", "active"));
        assertThat(browser.findElement(grantRow("grant-paused")).getAttribute("class")).doesNotContain("paused");
        assertThat(grantState("grant-paused")).isEqualTo("active");
    }

    @Test
    void deadLettersAreReplayedInBulkByAFilterAndLeaveTheList() {
        // Given three dead letters, two of them event.created notifications of grant-a
        String first = deadLetter("grant-a", "evt-1", "event.created", "NylasApiException: Nylas API answered 500");
        String second = deadLetter("grant-a", "evt-2", "event.created", "<b>boom</b>");
        String other = deadLetter("grant-a", "evt-3", "event.updated", "NylasApiException: Nylas API answered 500");

        signIn(ADMIN_TOKEN);
        wait.until(ExpectedConditions.presenceOfElementLocated(deadRow(first)));
        wait.until(ExpectedConditions.presenceOfElementLocated(deadRow(other)));
        // data is shown as text, never as markup
        WebElement error = browser.findElement(deadRow(second)).findElement(By.cssSelector("td.message"));
        assertThat(error.getText()).isEqualTo("<b>boom</b>");
        assertThat(error.findElements(By.tagName("b"))).isEmpty();

        // When the operator replays the event.created dead letters of grant-a
        browser.findElement(By.id("bulk-type")).sendKeys("event.created");
        browser.findElement(By.id("bulk-grant")).sendKeys("grant-a");
        browser.findElement(By.id("bulk-replay")).click();

        // Then the page says two were replayed, they leave the list, and the inbox processed them again
        wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("bulk-result"), "Replayed 2"));
        wait.until(ExpectedConditions.numberOfElementsToBe(By.cssSelector("#dead-letters tr"), 1));
        assertThat(browser.findElements(deadRow(other))).hasSize(1);
        awaitStatus(first, "processed");
        awaitStatus(second, "processed");
        assertThat(notificationRow(other).get("status")).isEqualTo("dead");
    }

    @Test
    void aBulkReplayWithoutAFilterIsRefusedWithTheServicesMessage() {
        String dead = deadLetter("grant-a", "evt-1", "event.created", "NylasApiException: Nylas API answered 500");
        signIn(ADMIN_TOKEN);
        wait.until(ExpectedConditions.presenceOfElementLocated(deadRow(dead)));

        browser.findElement(By.id("bulk-replay")).click();

        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("error")));
        assertThat(text("error")).contains("400").contains("filter_required");
        assertThat(notificationRow(dead).get("status")).isEqualTo("dead");
    }

    @Test
    void aReconciliationRunsPlanIsShown() throws Exception {
        // Given a dry run that found an event the application does not have (its webhook never came)
        NYLAS.pauseWebhooks();
        long soon = Instant.now().plus(Duration.ofDays(1)).getEpochSecond();
        String eventId = (String) NYLAS.userCreates("grant-r", "primary", Map.of("title", "Standup",
                "when", Map.of("start_time", soon, "end_time", soon + 1800))).get("id");
        String runId = dryRun("grant-r", "primary");

        signIn(ADMIN_TOKEN);
        WebElement run = wait.until(ExpectedConditions.presenceOfElementLocated(runRow(runId)));
        run.findElement(By.cssSelector("button.show-plan")).click();

        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("plan")));
        assertThat(text("plan-title")).contains(runId);
        assertThat(text("plan-items")).contains("create").contains(eventId);
        assertThat(text("plan-details")).contains("grant-r").contains("succeeded");
    }

    @Test
    void aRefusedTokenIsAskedForAgain() {
        signIn("not-the-token");

        wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("error"), "401"));
        assertThat(browser.findElement(By.id("login")).isDisplayed()).isTrue();
        assertThat(browser.findElement(By.id("console")).isDisplayed()).isFalse();

        signIn(ADMIN_TOKEN);
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("console")));
        assertThat(browser.findElement(By.id("error")).isDisplayed()).isFalse();
    }

    private void signIn(String token) {
        if (!browser.getCurrentUrl().startsWith(url("/ops/").toString())) {
            browser.get(url("/ops/").toString());
        }
        WebElement field = wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("token")));
        field.clear();
        field.sendKeys(token);
        browser.findElement(By.id("token-save")).click();
    }

    private String text(String id) {
        return browser.findElement(By.id(id)).getText();
    }

    private static By grantRow(String grantId) {
        return By.cssSelector("#grants tr[data-grant-id='" + grantId + "']");
    }

    private static By deadRow(String notificationId) {
        return By.cssSelector("#dead-letters tr[data-notification-id='" + notificationId + "']");
    }

    private static By runRow(String runId) {
        return By.cssSelector("#runs tr[data-run-id='" + runId + "']");
    }

    private String grantState(String grantId) {
        return jdbc.queryForObject("SELECT state FROM grant_sync_state WHERE grant_id = ?", String.class, grantId);
    }

    /** A notification delivered, processed, then kept as a dead letter (as after its last failed attempt). */
    private String deadLetter(String grantId, String eventId, String type, String lastError) {
        String id = deliverAndWait(type, Notifications.event(grantId, eventId, "Title " + eventId, 100));
        jdbc.update("""
                UPDATE webhook_inbox SET status = 'dead', attempts = 3, outcome = NULL, processed_at = NULL,
                       last_error = ? WHERE notification_id = ?""", lastError, id);
        return id;
    }

    private String dryRun(String grantId, String calendarId) throws Exception {
        HttpResponse<String> started = send(HttpRequest.newBuilder(url("/admin/reconcile"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(
                        Map.of("grant_id", grantId, "calendar_id", calendarId, "dry_run", true)))).build());
        assertThat(started.statusCode()).isEqualTo(202);
        String runId = JSON.readTree(started.body()).path("run_id").asText();
        await().atMost(Duration.ofSeconds(30)).until(() -> Set.of("succeeded", "failed").contains(
                JSON.readTree(apiGet("/admin/reconcile/" + runId, ADMIN_TOKEN).body()).path("status").asText()));
        assertThat(List.of(JSON.readTree(apiGet("/admin/reconcile/" + runId, ADMIN_TOKEN).body())
                .path("status").asText())).containsExactly("succeeded");
        return runId;
    }
}
