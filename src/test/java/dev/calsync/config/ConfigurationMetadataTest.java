package dev.calsync.config;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every {@code calsync.*} property is documented twice, and both stay complete: in the jar's configuration metadata
 * (generated from the {@code @param} descriptions of {@link CalsyncProperties}, plus
 * META-INF/additional-spring-configuration-metadata.json), which IDEs show, and in the README's configuration table.
 */
class ConfigurationMetadataTest {

    private static final Pattern PROPERTY = Pattern.compile("`(calsync\\.[a-z0-9-]+(?:\\.[a-z0-9-]+)*)`");
    private static final Pattern PLACEHOLDER = Pattern.compile("\\{\\{(calsync\\.[a-z0-9-]+(?:\\.[a-z0-9-]+)*)");

    /** The calsync.* properties of the configuration metadata on the classpath, with their descriptions. */
    static Map<String, String> metadata() throws IOException {
        Map<String, String> properties = new TreeMap<>();
        ObjectMapper json = new ObjectMapper();
        for (URL url : Collections.list(ConfigurationMetadataTest.class.getClassLoader()
                .getResources("META-INF/spring-configuration-metadata.json"))) {
            try (InputStream in = url.openStream()) {
                for (JsonNode property : json.readTree(in).path("properties")) {
                    String name = property.path("name").asText();
                    if (name.startsWith("calsync.")) {
                        properties.put(name, property.path("description").asText(""));
                    }
                }
            }
        }
        return properties;
    }

    /** The calsync.* properties the first column of the README's property table names. */
    static Set<String> readmeTable() throws IOException {
        String readme = Files.readString(Path.of("README.md"));
        int start = readme.indexOf("| property | default | meaning |");
        assertThat(start).as("the README's property table").isNotNegative();
        int end = readme.indexOf("\n\n", start);
        Set<String> named = new TreeSet<>();
        for (String row : readme.substring(start, end).split("\n")) {
            String[] cells = row.split("\\|");
            if (cells.length > 1) {
                named.addAll(all(PROPERTY, cells[1]));
            }
        }
        return named;
    }

    private static Set<String> all(Pattern pattern, String text) {
        Set<String> found = new TreeSet<>();
        Matcher m = pattern.matcher(text);
        while (m.find()) {
            found.add(m.group(1));
        }
        return found;
    }

    @Test
    void everyPropertyHasADescriptionInTheMetadata() throws IOException {
        Map<String, String> metadata = metadata();

        assertThat(metadata).as("calsync.* properties in the configuration metadata").hasSizeGreaterThan(50);
        assertThat(metadata).as("calsync.* properties without a description (add an @param to CalsyncProperties)")
                .allSatisfy((name, description) -> assertThat(description).as(name).isNotBlank());
    }

    @Test
    void theReadmeTableAndTheMetadataNameTheSameProperties() throws IOException {
        Set<String> metadata = metadata().keySet();
        Set<String> readme = readmeTable();

        assertThat(readme).as("README rows whose property is not in the metadata").isSubsetOf(metadata);
        assertThat(metadata).as("properties without a row in the README's configuration table").isSubsetOf(readme);
    }

    @Test
    void everyPropertyARouteFileReadsIsInTheMetadata() throws IOException {
        Set<String> read = new TreeSet<>();
        try (Stream<Path> files = Files.list(Path.of("routes"))) {
            for (Path file : files.filter(p -> p.toString().endsWith(".camel.yaml")).toList()) {
                read.addAll(all(PLACEHOLDER, Files.readString(file)));
            }
        }

        assertThat(read).as("{{calsync.*}} placeholders of the route files").isNotEmpty()
                .isSubsetOf(metadata().keySet());
    }
}
