package dev.calsync.support;

import java.util.function.Supplier;

import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Runs a claim in a transaction whose planner may only join by nested loops, with nothing materialized between
 * them and no sort or hash to make a sub-select's rows unique first: a {@code LIMIT ... FOR UPDATE SKIP LOCKED}
 * sub-select on the inner side is then read again for every outer row. The statement's own rows, already changed by
 * it, are skipped by the lock on each new reading, so a statement that does not choose its rows once takes others in
 * their place and goes past its limit. These plans are rare on their own (they follow the statistics); here they are
 * the only ones the planner has.
 */
public final class RescanPlans {

    private static final String[] SETTINGS = {"enable_hashjoin", "enable_mergejoin", "enable_material",
            "enable_sort", "enable_hashagg"};

    private RescanPlans() {
    }

    /** The claim's result, the claim committed; {@code claim} uses the template's connection through Spring. */
    public static <T> T withNestedLoopsOnly(PlatformTransactionManager transactions, JdbcTemplate jdbc,
                                            Supplier<T> claim) {
        return new TransactionTemplate(transactions).execute(status -> {
            for (String setting : SETTINGS) {
                jdbc.execute("SET LOCAL " + setting + " = off");
            }
            return claim.get();
        });
    }
}
