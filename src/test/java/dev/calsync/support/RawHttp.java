package dev.calsync.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/**
 * HTTP/1.1 over a plain socket, for tests of what a server does with a connection: requests that announce more than
 * they send, from a chosen loopback address, and reading until the server closes.
 */
public final class RawHttp {

    private RawHttp() {
    }

    /** A request that announces {@code length} bytes of body and sends ten of them, from the loopback address {@code from}. */
    public static Socket slowly(URI server, String method, String path, int length, String from) throws IOException {
        Socket socket = new Socket(server.getHost(), server.getPort(), InetAddress.getByName(from), 0);
        OutputStream out = socket.getOutputStream();
        out.write((method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Authorization: Bearer " + IntegrationTest.API_TOKEN + "\r\nX-Nylas-Signature: 00\r\n"
                + "Content-Length: " + length + "\r\n\r\n{\"id\":\"sl").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        return socket;
    }

    /** A notification signed with the test secret, posted to the webhook on a connection of its own; the whole answer. */
    public static String postSigned(URI server, String body, String from) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket(server.getHost(), server.getPort(), InetAddress.getByName(from), 0)) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /webhooks/nylas HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Connection: close\r\nX-Nylas-Signature: " + Signing.sign(bytes, IntegrationTest.SECRET)
                    + "\r\nContent-Length: " + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(bytes);
            out.flush();
            return readAll(socket, 10_000);
        }
    }

    /** Everything the server sends until it closes the connection; fails if it is still open after the time-out. */
    public static String readAll(Socket socket, int timeoutMillis) throws IOException {
        socket.setSoTimeout(timeoutMillis);
        InputStream in = socket.getInputStream();
        StringBuilder text = new StringBuilder();
        byte[] buffer = new byte[4096];
        try {
            int n;
            while ((n = in.read(buffer)) != -1) {
                text.append(new String(buffer, 0, n, StandardCharsets.US_ASCII));
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("connection still open after " + timeoutMillis + " ms; received: " + text);
        } catch (java.net.SocketException e) {
            // reset by the server: closed
        }
        return text.toString();
    }
}
