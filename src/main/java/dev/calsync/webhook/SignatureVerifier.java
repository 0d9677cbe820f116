package dev.calsync.webhook;

import dev.calsync.api.Rejection;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import dev.calsync.config.CalsyncProperties;
import org.apache.camel.Body;
import org.apache.camel.Header;
import org.springframework.stereotype.Component;

/**
 * Checks {@code x-nylas-signature}: the lower-case hex HMAC-SHA256 of the exact raw body bytes, keyed with the
 * webhook secret. Any of the configured secrets is accepted, so a rotated secret can be rolled out without failing
 * deliveries. Comparison is constant-time.
 */
@Component("signatureVerifier")
public class SignatureVerifier {

    public static final String HEADER = "x-nylas-signature";

    private final List<SecretKeySpec> keys;

    @org.springframework.beans.factory.annotation.Autowired
    public SignatureVerifier(CalsyncProperties properties) {
        this(properties.webhook().secrets());
    }

    SignatureVerifier(List<String> secrets) {
        this.keys = secrets.stream()
                .map(s -> new SecretKeySpec(s.getBytes(java.nio.charset.StandardCharsets.UTF_8), "HmacSHA256"))
                .toList();
    }

    public boolean hasSecrets() {
        return !keys.isEmpty();
    }

    /** Throws a 401 {@link Rejection} unless the signature matches the body under one of the secrets. */
    public void verify(@Body byte[] body, @Header(HEADER) String signature) {
        if (signature == null || signature.isBlank()) {
            throw new Rejection(401, "invalid_signature", "missing " + HEADER + " header");
        }
        byte[] presented;
        try {
            presented = HexFormat.of().parseHex(signature.trim().toLowerCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new Rejection(401, "invalid_signature", HEADER + " is not a hex HMAC-SHA256");
        }
        byte[] bytes = body == null ? new byte[0] : body;
        boolean match = false;
        for (int key = 0; key < keys.size(); key++) {
            // no early exit: every secret is tried so timing does not tell which one matched
            match |= MessageDigest.isEqual(hmac(key, bytes), presented);
        }
        if (!match) {
            throw new Rejection(401, "invalid_signature", HEADER + " does not match the body");
        }
    }

    // Mac.getInstance looks the algorithm up among the security providers on every call (a tenth of the webhook's
    // CPU under load): each thread keeps one Mac per secret and re-keys nothing (doFinal resets it)
    private final ThreadLocal<Mac[]> macs = ThreadLocal.withInitial(this::newMacs);

    private Mac[] newMacs() {
        try {
            Mac[] result = new Mac[keys.size()];
            for (int i = 0; i < result.length; i++) {
                result[i] = Mac.getInstance("HmacSHA256");
                result[i].init(keys.get(i));
            }
            return result;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    private byte[] hmac(int key, byte[] body) {
        return macs.get()[key].doFinal(body);
    }
}
