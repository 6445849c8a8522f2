/*
 * restguard: minimal launcher for a real, single-node Elasticsearch 8.x server
 * built only from the jars Elastic publishes on Maven Central.
 *
 * How the HTTP layer gets in: Elasticsearch's HTTP/transport implementation is the
 * "transport-netty4" module. 8.x has no public API for classpath plugins, so this
 * launcher does what the real distribution does: it lays out
 * <home>/modules/transport-netty4/ (plugin-descriptor.properties + symlinks to the
 * transport-netty4 and netty jars) and hands it to the public
 * PluginsLoader / Node(Environment, PluginsLoader) API. For that to pass the
 * server's jar-hell check, the netty jars and transport-netty4 jar must NOT be on
 * this JVM's class path (see README: the class path is lib/* minus those jars).
 * The optional --rest-root-jar (src/root/RestguardRootPlugin.java, built into its own jar)
 * is laid out the same way, as modules/restguard-rest-root/, to serve GET / and HEAD /.
 *
 * Usage (all options also readable as -Drestguard.es.<name>=...):
 *   java -Xms512m -Xmx512m -cp "<classes>:<server jars>" restguard.es.RestguardEsNode \
 *        --home DIR --lib DIR [--rest-root-jar JAR] [--data DIR] [--http-port 9200] [--transport-port 9300]
 *        [--cluster-name restguard-test] [--node-name restguard-node-1]
 *        [--pid-file FILE] [--console] [-E setting=value ...]
 */
package restguard.es;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.logging.log4j.core.config.Configurator;
import org.elasticsearch.Version;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.PluginBundle;
import org.elasticsearch.plugins.PluginsLoader;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

public final class RestguardEsNode {

    private static final String NETTY_MODULE = "transport-netty4";
    private static final String NETTY_PLUGIN_CLASS = "org.elasticsearch.transport.netty4.Netty4Plugin";
    private static final String REST_ROOT_MODULE = "restguard-rest-root";
    private static final String REST_ROOT_PLUGIN_CLASS = "restguard.es.root.RestguardRootPlugin";

    private static volatile Node node;
    private static final CountDownLatch STOPPED = new CountDownLatch(1);

    private RestguardEsNode() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        Map<String, String> extraSettings = new LinkedHashMap<>();
        boolean console = Boolean.getBoolean("restguard.es.console");
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (a.equals("--console")) {
                console = true;
            } else if (a.equals("-E") && i + 1 < argv.length) {
                String kv = argv[++i];
                int eq = kv.indexOf('=');
                if (eq <= 0) throw new IllegalArgumentException("-E expects key=value, got: " + kv);
                extraSettings.put(kv.substring(0, eq), kv.substring(eq + 1));
            } else if (a.startsWith("--") && i + 1 < argv.length) {
                opts.put(a.substring(2), argv[++i]);
            } else if (a.equals("-h") || a.equals("--help")) {
                System.out.println("options: --home DIR --lib DIR [--rest-root-jar JAR] [--data DIR] [--http-port N] [--transport-port N]"
                    + " [--cluster-name S] [--node-name S] [--pid-file F] [--console] [-E k=v]...");
                return;
            } else {
                throw new IllegalArgumentException("unknown or incomplete argument: " + a);
            }
        }

        Path home = Paths.get(opt(opts, "home", null, true)).toAbsolutePath().normalize();
        Path lib = Paths.get(opt(opts, "lib", null, true)).toAbsolutePath().normalize();
        Path data = Paths.get(opt(opts, "data", home.resolve("data").toString(), false)).toAbsolutePath().normalize();
        String httpPort = opt(opts, "http-port", "9200", false);
        String transportPort = opt(opts, "transport-port", "9300", false);
        String clusterName = opt(opts, "cluster-name", "restguard-test", false);
        String nodeName = opt(opts, "node-name", "restguard-node-1", false);
        Path pidFile = Paths.get(opt(opts, "pid-file", home.resolve("es.pid").toString(), false)).toAbsolutePath();

        Path config = home.resolve("config");
        Path logs = home.resolve("logs");
        Path modules = home.resolve("modules");
        for (Path p : List.of(home, config, logs, data, modules, home.resolve("plugins"), home.resolve("tmp"))) {
            Files.createDirectories(p);
        }
        writeLog4jConfigIfMissing(config);
        layOutNettyModule(lib, modules.resolve(NETTY_MODULE));
        String restRootJar = opt(opts, "rest-root-jar", null, false);
        Path restRootDir = modules.resolve(REST_ROOT_MODULE);
        if (restRootJar != null) {
            Path jar = Paths.get(restRootJar).toAbsolutePath().toRealPath();
            layOutModule(restRootDir, REST_ROOT_MODULE, REST_ROOT_PLUGIN_CLASS, "GET / and HEAD / (restguard stand-in for rest-root)", List.of(jar));
        } else {
            deleteModuleDir(restRootDir);
        }

        Settings.Builder sb = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", logs.toString())
            .put("cluster.name", clusterName)
            .put("node.name", nodeName)
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("discovery.type", "single-node")
            // small dev disks: never block allocation / flip indices read-only because of free space
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // allow DELETE idx-* (test clean-up); 8.x defaults to true
            .put("action.destructive_requires_name", false);
        extraSettings.forEach(sb::put);

        Environment env = InternalSettingsPreparer.prepareEnvironment(sb.build(), Map.of(), config, () -> nodeName);

        // Logging first, like the real bootstrap does (everything else logs through it).
        LogConfigurator.registerErrorListener();
        LogConfigurator.setClusterName(clusterName);
        LogConfigurator.setNodeName(nodeName);
        LogConfigurator.configure(env, console);
        Logger log = LogManager.getLogger(RestguardEsNode.class);
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> log.error("uncaught exception in thread [" + t.getName() + "]", e));
        log.info(
            "restguard launcher: ES [{}], java [{} {}], home [{}], data [{}], http [127.0.0.1:{}], transport [127.0.0.1:{}], pid [{}]",
            Version.CURRENT,
            System.getProperty("java.vendor"),
            Runtime.version(),
            home,
            data,
            httpPort,
            transportPort,
            ProcessHandle.current().pid()
        );

        Set<PluginBundle> moduleBundles = PluginsLoader.loadModulesBundles(env.modulesDir());
        Set<PluginBundle> pluginBundles = PluginsLoader.loadPluginsBundles(env.pluginsDir());
        // withServerExports=false: the server jar runs on the class path (unnamed module), so there are no
        // qualified module exports to wire up (the distribution's module-path setup is the only one needing them).
        PluginsLoader pluginsLoader = PluginsLoader.createPluginsLoader(moduleBundles, pluginBundles, Map.of(), false);

        Runtime.getRuntime().addShutdownHook(new Thread(() -> shutdown(log, pidFile), "restguard-es-shutdown"));

        try {
            node = new Node(env, pluginsLoader);
            node.start();
        } catch (Throwable t) {
            log.fatal("node failed to start", t);
            Configurator.shutdown((org.apache.logging.log4j.core.LoggerContext) LogManager.getContext(false));
            System.exit(1);
        }
        // PID file only once the node is up: callers can poll for it as a readiness hint.
        Path tmpPid = pidFile.resolveSibling(pidFile.getFileName() + ".tmp");
        Files.writeString(tmpPid, Long.toString(ProcessHandle.current().pid()) + "\n", StandardCharsets.US_ASCII);
        Files.move(tmpPid, pidFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        log.info("restguard launcher: node started, pid file [{}]", pidFile);

        // Keep the JVM alive until the shutdown hook has closed the node.
        STOPPED.await();
    }

    private static void shutdown(Logger log, Path pidFile) {
        try {
            Node n = node;
            if (n != null) {
                log.info("restguard launcher: stopping node");
                n.close();
                if (n.awaitClose(30, TimeUnit.SECONDS) == false) {
                    log.warn("restguard launcher: node did not close within 30s");
                }
                log.info("restguard launcher: node stopped");
            }
        } catch (Throwable t) {
            log.error("restguard launcher: error while stopping node", t);
        } finally {
            try {
                Files.deleteIfExists(pidFile);
            } catch (IOException ignored) {
                // best effort
            }
            STOPPED.countDown();
            // log4j's own shutdown hook is disabled (-Dlog4j.shutdownHookEnabled=false), flush it here
            Configurator.shutdown((org.apache.logging.log4j.core.LoggerContext) LogManager.getContext(false));
        }
    }

    private static String opt(Map<String, String> opts, String name, String dflt, boolean required) {
        String v = opts.get(name);
        if (v == null) v = System.getProperty("restguard.es." + name);
        if (v == null) v = dflt;
        if (v == null && required) {
            throw new IllegalArgumentException("missing --" + name + " (or -Drestguard.es." + name + "=...)");
        }
        return v;
    }

    /**
     * Lays out modules/transport-netty4 like the distribution does: a plugin descriptor plus the module's
     * jars (symlinked from the flat lib dir). Refuses to run if those jars are also on the class path,
     * because the server's jar-hell check would reject the module and the plugin class must be loaded by
     * the module's own class loader.
     */
    private static void layOutNettyModule(Path lib, Path moduleDir) throws IOException {
        List<Path> jars = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(lib, "*.jar")) {
            for (Path jar : ds) {
                if (isNettyModuleJar(jar.getFileName().toString())) jars.add(jar.toRealPath());
            }
        }
        if (jars.stream().noneMatch(p -> p.getFileName().toString().startsWith(NETTY_MODULE + "-"))) {
            throw new IllegalStateException("no " + NETTY_MODULE + "-*.jar in " + lib);
        }
        for (String cpEntry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String fn = Paths.get(cpEntry).getFileName() == null ? "" : Paths.get(cpEntry).getFileName().toString();
            if (fn.equals("*") || isNettyModuleJar(fn)) {
                throw new IllegalStateException(
                    "class path entry [" + cpEntry + "] must not be on the class path: netty and transport-netty4 jars are loaded"
                        + " as the transport-netty4 module. Build the class path from"
                        + " the lib dir minus netty-*.jar and transport-netty4-*.jar (see README)."
                );
            }
        }
        layOutModule(moduleDir, NETTY_MODULE, NETTY_PLUGIN_CLASS, "Netty 4 based HTTP and transport layer (Maven Central jars)", jars);
    }

    private static void deleteModuleDir(Path moduleDir) throws IOException {
        if (Files.isDirectory(moduleDir)) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(moduleDir)) {
                for (Path p : ds) Files.delete(p);
            }
            Files.delete(moduleDir);
        }
    }

    /** (Re)creates one module directory: symlinks to its jars plus a generated plugin-descriptor.properties. */
    private static void layOutModule(Path moduleDir, String name, String className, String description, List<Path> jars)
        throws IOException {
        deleteModuleDir(moduleDir);
        Files.createDirectories(moduleDir);
        for (Path jar : jars) {
            Files.createSymbolicLink(moduleDir.resolve(jar.getFileName()), jar);
        }
        String descriptor = String.join(
            "\n",
            "# generated by restguard.es.RestguardEsNode",
            "name=" + name,
            "description=" + description,
            "version=" + Version.CURRENT,
            "elasticsearch.version=" + Version.CURRENT,
            "java.version=17",
            "classname=" + className,
            "extended.plugins=",
            "has.native.controller=false",
            ""
        );
        Files.writeString(moduleDir.resolve("plugin-descriptor.properties"), descriptor, StandardCharsets.UTF_8);
    }

    private static boolean isNettyModuleJar(String fileName) {
        return fileName.endsWith(".jar") && (fileName.startsWith("netty-") || fileName.startsWith(NETTY_MODULE + "-"));
    }

    private static void writeLog4jConfigIfMissing(Path config) throws IOException {
        Path f = config.resolve("log4j2.properties");
        if (Files.exists(f)) return;
        // ${sys:es.logs.base_path}, ${sys:es.logs.cluster_name} are set by LogConfigurator from path.logs / cluster.name
        String conf = String.join(
            "\n",
            "# generated by restguard.es.RestguardEsNode; edit freely, it is only written when missing",
            "status = error",
            "appender.console.type = Console",
            "appender.console.name = console",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n",
            "appender.file.type = RollingFile",
            "appender.file.name = file",
            "appender.file.fileName = ${sys:es.logs.base_path}${sys:file.separator}${sys:es.logs.cluster_name}.log",
            "appender.file.filePattern = ${sys:es.logs.base_path}${sys:file.separator}${sys:es.logs.cluster_name}-%i.log.gz",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n",
            "appender.file.policies.type = Policies",
            "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
            "appender.file.policies.size.size = 64MB",
            "appender.file.strategy.type = DefaultRolloverStrategy",
            "appender.file.strategy.max = 3",
            "rootLogger.level = info",
            "rootLogger.appenderRef.console.ref = console",
            "rootLogger.appenderRef.file.ref = file",
            "logger.deprecation.name = org.elasticsearch.deprecation",
            "logger.deprecation.level = warn",
            ""
        );
        Files.writeString(f, conf, StandardCharsets.UTF_8);
    }
}
