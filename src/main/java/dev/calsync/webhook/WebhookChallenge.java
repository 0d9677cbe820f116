package dev.calsync.webhook;

import dev.calsync.api.Rejection;
import org.apache.camel.Header;
import org.springframework.stereotype.Component;

/** Nylas activates a webhook destination by sending {@code GET ?challenge=<v>} and expecting {@code <v>} back. */
@Component("webhookChallenge")
public class WebhookChallenge {

    public String answer(@Header("challenge") String challenge) {
        if (challenge == null || challenge.isEmpty()) {
            throw new Rejection(400, "missing_challenge", "GET needs a challenge query parameter");
        }
        return challenge;
    }
}
