package dev.calsync.bench;

import java.nio.file.Files;
import java.nio.file.Path;

/** What the benchmarks print about the machine they ran on, beside their figures. */
final class BenchMachine {

    private BenchMachine() {
    }

    /** The 1, 5 and 15 minute load averages ({@code /proc/loadavg}), or "unknown" where there is none. */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (Exception e) {
            return "unknown";
        }
    }
}
