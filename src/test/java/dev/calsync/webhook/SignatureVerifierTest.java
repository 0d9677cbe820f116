package dev.calsync.webhook;

import java.nio.charset.StandardCharsets;
import java.util.List;

import dev.calsync.api.Rejection;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SignatureVerifierTest {

    // Computed outside this code base:
    //   printf '%s' "$BODY" | openssl dgst -sha256 -hmac test-secret
    private static final byte[] BODY = "{\"id\":\"n-1\",\"type\":\"event.created\",\"data\":{\"object\":{\"id\":\"e-1\"}}}"
            .getBytes(StandardCharsets.UTF_8);
    private static final String OPENSSL_SIGNATURE = "45cb83a597112e67bb8c6ed2e264dfb8701b6877598354ee5d7763baf9d1df10";

    private final SignatureVerifier verifier = new SignatureVerifier(List.of("old-secret", "test-secret"));

    @Test
    void acceptsTheHmacOfTheRawBodyUnderAnyConfiguredSecret() {
        assertThatCode(() -> verifier.verify(BODY, OPENSSL_SIGNATURE)).doesNotThrowAnyException();
    }

    @Test
    void acceptsUpperCaseHexAndSurroundingSpaces() {
        assertThatCode(() -> verifier.verify(BODY, " " + OPENSSL_SIGNATURE.toUpperCase() + " "))
                .doesNotThrowAnyException();
    }

    @Test
    void refusesASignatureOfOtherBytes() {
        byte[] reformatted = "{\"id\": \"n-1\", \"type\": \"event.created\", \"data\": {\"object\": {\"id\": \"e-1\"}}}"
                .getBytes(StandardCharsets.UTF_8);

        assertThatThrownBy(() -> verifier.verify(reformatted, OPENSSL_SIGNATURE))
                .isInstanceOf(Rejection.class).hasMessage("x-nylas-signature does not match the body");
    }

    @Test
    void refusesAMissingSignature() {
        assertThatThrownBy(() -> verifier.verify(BODY, null))
                .isInstanceOfSatisfying(Rejection.class, r -> assertThat(r.getStatus()).isEqualTo(401))
                .hasMessage("missing x-nylas-signature header");
    }

    @Test
    void refusesEverythingWhenNoSecretIsConfigured() {
        SignatureVerifier unconfigured = new SignatureVerifier(List.of());

        assertThat(unconfigured.hasSecrets()).isFalse();
        assertThatThrownBy(() -> unconfigured.verify(BODY, OPENSSL_SIGNATURE)).isInstanceOf(Rejection.class);
    }
}
