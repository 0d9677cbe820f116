package dev.calsync.shutdown;

import java.util.UUID;

/**
 * The claim tokens of one claimer (one bean of one running instance): each token is a random UUID behind a prefix
 * that is this claimer's own, so on shutdown it gives back exactly the rows it holds ({@code claim_token LIKE
 * prefix%}) and never a row another instance claimed. The prefix lives as long as the bean: a restarted instance
 * has a new one, and the rows its predecessor did not give back wait for their lease as before.
 */
public final class ClaimTokens {

    private final String prefix = UUID.randomUUID() + ":";

    /** What every token of this claimer starts with; the SQL appends {@code gen_random_uuid()}. */
    public String prefix() {
        return prefix;
    }

    /** A new token of this claimer, made in Java. */
    public String next() {
        return prefix + UUID.randomUUID();
    }

    /** The {@code LIKE} pattern of this claimer's tokens (a UUID holds no {@code %} or {@code _}). */
    public String pattern() {
        return prefix + "%";
    }
}
