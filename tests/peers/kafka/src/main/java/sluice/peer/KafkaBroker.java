package sluice.peer;

/**
 * Runs Apache Kafka's broker ({@code kafka.Kafka}) with the given server.properties and halts the
 * JVM when standard input ends: the test process holds the write end of that pipe, so however it
 * ends (success, panic, SIGKILL) the broker goes with it and never outlives the tests.
 */
public final class KafkaBroker {
    private KafkaBroker() {}

    public static void main(String[] args) throws Exception {
        Thread watcher = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // Nothing is ever written; only the end of the stream matters.
                }
            } catch (java.io.IOException ignored) {
                // A broken pipe means the same as its end.
            }
            Runtime.getRuntime().halt(0);
        }, "stdin-watcher");
        watcher.setDaemon(true);
        watcher.start();
        kafka.Kafka.main(args);
    }
}
