package sluice.peer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single OpenSearch 2.19 node for sluice's integration tests, embedded through {@link Node}
 * so that none of the command line's bootstrap runs: no "can not run opensearch as root" check,
 * no security manager, no jar-hell scan (plugins are classes on the classpath, {@code modules/}
 * and {@code plugins/} stay empty).
 *
 * <p>Usage: {@code SearchNode <home directory> <http port, 0 = any free one>}. Prints exactly one
 * line {@code READY http=127.0.0.1:<port>} on stdout once the REST API serves, then runs until its
 * standard input ends (the test process that started it exited, however it exited) or it gets
 * SIGTERM, and closes the node before exiting.
 */
public final class SearchNode {
    private static final Collection<Class<? extends Plugin>> PLUGINS = List.of(Netty4Plugin.class);

    /** Node's plugin-class constructor is protected; this subclass only exposes it. */
    private static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    private static Node node;
    private static boolean stopped;

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: SearchNode <home directory> <http port, 0 = any free one>");
            System.exit(2);
        }
        try {
            Path home = Path.of(args[0]).toAbsolutePath();
            int httpPort = Integer.parseInt(args[1]);
            start(home, httpPort);
        } catch (Throwable e) {
            System.err.println("the search node failed to start:");
            e.printStackTrace();
            stop();
            System.exit(1);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(SearchNode::stop, "search-node-stop"));
        waitForEndOfInput(System.in);
        stop();
        System.exit(0);
    }

    private static void start(Path home, int httpPort) throws Exception {
        // Plugins found on disk would be loaded and jar-hell checked: keep both directories empty.
        Files.createDirectories(home.resolve("modules"));
        Files.createDirectories(home.resolve("plugins"));
        Settings settings = Settings.builder()
                .put("cluster.name", "sluice-test")
                .put("node.name", "sluice-test")
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("discovery.type", "single-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", httpPort)
                .put("transport.port", 0)
                // Set explicitly so that a missing Netty plugin fails loudly.
                .put("http.type", "netty4")
                .put("transport.type", "netty4")
                // A nearly full disk must not turn the test indices read-only.
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .build();
        Environment environment =
                InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "sluice-test");
        synchronized (SearchNode.class) {
            node = new EmbeddedNode(environment, PLUGINS);
        }
        node.start();
        var http = node.injector().getInstance(HttpServerTransport.class);
        int port = http.boundAddress().publishAddress().getPort();
        System.out.println("READY http=127.0.0.1:" + port);
        System.out.flush();
    }

    /** Returns when standard input reaches its end (or fails). */
    private static void waitForEndOfInput(InputStream in) {
        byte[] buffer = new byte[256];
        try {
            while (in.read(buffer) != -1) {
                // Input carries no commands; only its end matters.
            }
        } catch (IOException e) {
            // A broken pipe means the same as an end: the parent is gone.
        }
    }

    /** Closes the node once, from whichever of main and the shutdown hook comes first. */
    private static synchronized void stop() {
        if (stopped || node == null) {
            stopped = true;
            return;
        }
        stopped = true;
        try {
            node.close();
            if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                System.err.println("the search node did not close within 30 s");
            }
        } catch (Throwable e) {
            System.err.println("closing the search node failed:");
            e.printStackTrace();
        }
    }
}
