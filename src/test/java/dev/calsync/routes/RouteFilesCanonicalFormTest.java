package dev.calsync.routes;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The route files are kept in the form the Camel YAML DSL's canonical schema and Kaoto write, so Kaoto opens and
 * saves them without changing them: every step has an id, expressions are objects ({@code expression: {simple:
 * {expression: ...}}}), and explanations live in {@code description} fields (Kaoto drops comments); only the
 * comment block at the top of a file (its contract) stays a comment.
 */
class RouteFilesCanonicalFormTest {

    /** Expression languages the routes use; any of them directly in a step is the shorthand form. */
    private static final Set<String> LANGUAGES = Set.of("simple", "constant", "method", "header", "exchangeProperty",
            "variable", "tokenize", "jsonpath", "xpath", "groovy", "jq", "csimple");
    /** Options that hold a language object directly (the schema's ExpressionSubElementDefinition). */
    private static final Set<String> SUB_ELEMENTS = Set.of("handled", "continued", "onWhen", "retryWhile",
            "completionPredicate", "completionSize", "completionTimeout", "correlationExpression");

    static Stream<Path> routeFiles() throws IOException {
        return RouteFilesTest.routeFiles();
    }

    @ParameterizedTest
    @MethodSource("routeFiles")
    void everyStepHasAnIdUniqueInItsFile(Path file) throws IOException {
        List<String> withoutId = new ArrayList<>();
        List<String> ids = new ArrayList<>();

        walkSteps(read(file), "", withoutId, ids);

        assertThat(withoutId).as("steps without an id in " + file).isEmpty();
        assertThat(ids).as("step ids in " + file).doesNotHaveDuplicates();
    }

    @ParameterizedTest
    @MethodSource("routeFiles")
    void everyExpressionIsWrittenAsAnObject(Path file) throws IOException {
        List<String> shorthand = new ArrayList<>();

        walkExpressions(read(file), "", "", shorthand);

        assertThat(shorthand).as("expressions in the shorthand form in " + file).isEmpty();
    }

    @ParameterizedTest
    @MethodSource("routeFiles")
    void explanationsBelowTheTopCommentAreDescriptionsNotComments(Path file) throws IOException {
        String text = Files.readString(file);
        String routes = text.substring(text.indexOf("\n- "));

        List<String> comments = routes.lines().filter(line -> line.strip().startsWith("#")).toList();

        assertThat(comments).as("comments below the top comment block of " + file).isEmpty();
    }

    private static JsonNode read(Path file) throws IOException {
        return new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
    }

    /** A step is an element of a {@code steps} list, a {@code doCatch} or an {@code onException}. */
    private static void walkSteps(JsonNode node, String path, List<String> withoutId, List<String> ids) {
        if (node.isArray()) {
            boolean steps = path.endsWith("/steps") || path.endsWith("/doCatch") || path.endsWith("/onException");
            for (int i = 0; i < node.size(); i++) {
                JsonNode element = node.get(i);
                String at = path + "[" + i + "]";
                if (steps && element.isObject()) {
                    JsonNode step = path.endsWith("/doCatch") ? element : element.elements().next();
                    String name = path.endsWith("/doCatch") ? "doCatch" : element.fieldNames().next();
                    if (step.hasNonNull("id")) {
                        ids.add(step.get("id").asText());
                    } else {
                        withoutId.add(at + " " + name);
                    }
                }
                walkSteps(element, at, withoutId, ids);
            }
        } else if (node.isObject()) {
            for (Map.Entry<String, JsonNode> field : node.properties()) {
                walkSteps(field.getValue(), path + "/" + field.getKey(), withoutId, ids);
            }
        }
    }

    private static void walkExpressions(JsonNode node, String key, String path, List<String> shorthand) {
        if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                walkExpressions(node.get(i), key, path + "[" + i + "]", shorthand);
            }
        } else if (node.isObject()) {
            for (Map.Entry<String, JsonNode> field : node.properties()) {
                String name = field.getKey();
                JsonNode value = field.getValue();
                String at = path + "/" + name;
                if (LANGUAGES.contains(name)) {
                    // a bean step's method is its method name, not an expression
                    boolean beanMethod = name.equals("method") && value.isValueNode();
                    // a rest verb's response message lists its headers under "header": no expression
                    boolean responseHeaders = name.equals("header") && key.equals("responseMessage");
                    boolean asObject = value.isObject() && (key.equals("expression") || SUB_ELEMENTS.contains(key));
                    if (!beanMethod && !responseHeaders && !asObject) {
                        shorthand.add(at);
                    }
                }
                walkExpressions(value, name, at, shorthand);
            }
        }
    }
}
