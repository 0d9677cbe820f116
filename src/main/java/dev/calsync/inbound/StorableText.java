package dev.calsync.inbound;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;

/**
 * Text as PostgreSQL can store it. JSON may carry {@code \u0000} and unpaired surrogate escapes ({@code \ud800}),
 * which neither {@code text} nor {@code jsonb} accepts; each such character becomes U+FFFD, so a notification or an
 * event carrying them is stored and synced instead of failing on every attempt. Everything else, including valid
 * non-ASCII such as emoji and right-to-left scripts, is kept verbatim.
 * <p>
 * Written by hand: no library both knows PostgreSQL's rules and walks Jackson trees and plain maps.
 */
public final class StorableText {

    public static final char REPLACEMENT = '\uFFFD';

    private StorableText() {
    }

    /** Whether the string holds a NUL or an unpaired surrogate. */
    public static boolean needsCleaning(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == 0) {
                return true;
            }
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                } else {
                    return true;
                }
            } else if (Character.isLowSurrogate(c)) {
                return true;
            }
        }
        return false;
    }

    /** The string with each NUL and unpaired surrogate replaced by U+FFFD (the same instance when none). */
    public static String clean(String s) {
        if (s == null || !needsCleaning(s)) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                out.append(c).append(s.charAt(++i));
            } else if (c == 0 || Character.isSurrogate(c)) {
                out.append(REPLACEMENT);
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** Whether any text or field name in the tree needs cleaning. */
    public static boolean needsCleaning(JsonNode node) {
        if (node.isTextual()) {
            return needsCleaning(node.textValue());
        }
        if (node.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> field = it.next();
                if (needsCleaning(field.getKey()) || needsCleaning(field.getValue())) {
                    return true;
                }
            }
            return false;
        }
        if (node.isArray()) {
            for (JsonNode element : node) {
                if (needsCleaning(element)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** A copy of the tree with every text and field name cleaned. */
    public static JsonNode clean(JsonNode node) {
        if (node.isTextual()) {
            return TextNode.valueOf(clean(node.textValue()));
        }
        if (node.isObject()) {
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            node.fields().forEachRemaining(f -> out.set(clean(f.getKey()), clean(f.getValue())));
            return out;
        }
        if (node.isArray()) {
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            node.forEach(element -> out.add(clean(element)));
            return out;
        }
        return node;
    }

    /** Maps, lists and strings as Jackson reads them into plain Java, cleaned the same way. */
    @SuppressWarnings("unchecked")
    public static <T> T cleanValue(T value) {
        if (value instanceof String s) {
            return (T) clean(s);
        }
        if (value instanceof Map<?, ?> map) {
            Map<String, Object> out = new LinkedHashMap<>();
            map.forEach((k, v) -> out.put(clean(String.valueOf(k)), cleanValue(v)));
            return (T) out;
        }
        if (value instanceof List<?> list) {
            List<Object> out = new ArrayList<>(list.size());
            list.forEach(v -> out.add(cleanValue(v)));
            return (T) out;
        }
        return value;
    }
}
