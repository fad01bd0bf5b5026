/*
 * Stand-in for Jenkins' remoting.jar, used only by the Jenkins emulator (tests/jenkins/emulator.py).
 *
 * The emulator launches it exactly as the SSH Build Agents plugin launches the real agent jar
 * (jenkinsci/ssh-agents-plugin, SSHLauncher.startAgent):
 *
 *   cd "<remoteFS>" && <java> <jvmOptions> -jar remoting.jar -workDir <remoteFS> -jar-cache <remoteFS>/remoting/jarCache
 *
 * and keeps the process' stdin/stdout as the channel. The real remoting protocol is replaced by
 * line-based JSON, one object per line:
 *
 *   agent -> controller: {"type":"hello",...}            first line, once the agent is ready
 *                        {"type":"step_start","build":ID,"step":I}
 *                        {"type":"output","build":ID,"step":I,"data":"..."}
 *                        {"type":"step_end","build":ID,"step":I,"exit_code":N}
 *                        {"type":"build_end","build":ID,"result":"SUCCESS"|"FAILURE"|"ABORTED"}
 *                        {"type":"pong"}
 *   controller -> agent: {"type":"build","build":ID,"name":"job","workspace_name":"job","steps":[...],"env":{...}}
 *                        {"type":"abort","build":ID}
 *                        {"type":"ping"}
 *
 * Each step runs as `/bin/sh -c STEP` in <workDir>/workspace/<workspace_name> with stdout and
 * stderr merged; a non-zero exit fails the build and stops it. The process exits on stdin EOF
 * (the controller closed the channel), killing whatever step is still running.
 *
 * Log lines go to stderr (the plugin copies the agent's stderr into the node log).
 * No dependencies: a minimal JSON reader/writer is included.
 */

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

public final class Remoting {
    static final String VERSION = "slipway-emulator-remoting/1";

    private static PrintStream out;
    private static final Map<Long, Build> builds = new ConcurrentHashMap<>();
    private static File workDir;

    public static void main(String[] args) throws Exception {
        String wd = null;
        String jarCache = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (("-workDir".equals(a) || "--workDir".equals(a)) && i + 1 < args.length) {
                wd = args[++i];
            } else if (("-jar-cache".equals(a) || "--jar-cache".equals(a)) && i + 1 < args.length) {
                jarCache = args[++i];
            } else {
                // Real remoting accepts many more options (-text, -noReconnect, ...): ignore them.
                System.err.println("INFO: ignoring argument " + a);
            }
        }
        workDir = new File(wd != null ? wd : System.getProperty("user.dir")).getAbsoluteFile();
        File internal = new File(workDir, "remoting");
        File cache = jarCache != null ? new File(jarCache) : new File(internal, "jarCache");
        if (!internal.isDirectory() && !internal.mkdirs()) {
            System.err.println("SEVERE: cannot create " + internal);
        }
        if (!cache.isDirectory() && !cache.mkdirs()) {
            System.err.println("SEVERE: cannot create " + cache);
        }
        // Same wording as org.jenkinsci.remoting.engine.WorkDirManager.
        System.err.println("INFO: Using " + internal + " as a remoting work directory");

        out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);
        Map<String, Object> hello = new LinkedHashMap<>();
        hello.put("type", "hello");
        hello.put("protocol", 1L);
        hello.put("remoting_version", VERSION);
        hello.put("java_version", System.getProperty("java.version"));
        hello.put("java_vendor", System.getProperty("java.vendor"));
        hello.put("os", System.getProperty("os.name"));
        hello.put("user", System.getProperty("user.name"));
        hello.put("work_dir", workDir.getPath());
        hello.put("jar_cache", cache.getPath());
        hello.put("pid", ProcessHandle.current().pid());
        send(hello);

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            Object parsed;
            try {
                parsed = new Json(line).parse();
            } catch (RuntimeException e) {
                System.err.println("WARNING: unparsable message: " + line);
                continue;
            }
            if (!(parsed instanceof Map)) {
                continue;
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> msg = (Map<String, Object>) parsed;
            String type = String.valueOf(msg.get("type"));
            switch (type) {
                case "build":
                    startBuild(msg);
                    break;
                case "abort": {
                    Build b = builds.get(asLong(msg.get("build")));
                    if (b != null) {
                        b.abort();
                    }
                    break;
                }
                case "ping": {
                    Map<String, Object> pong = new LinkedHashMap<>();
                    pong.put("type", "pong");
                    send(pong);
                    break;
                }
                default:
                    System.err.println("WARNING: unknown message type " + type);
            }
        }
        // Channel closed: like a real agent, go away and take running work with us.
        for (Build b : builds.values()) {
            b.abort();
        }
        System.err.println("INFO: channel closed, terminating");
        System.exit(0);
    }

    static synchronized void send(Map<String, Object> msg) {
        out.print(Json.write(msg));
        out.print('\n');
        out.flush();
    }

    static long asLong(Object o) {
        if (o instanceof Number) {
            return ((Number) o).longValue();
        }
        return Long.parseLong(String.valueOf(o));
    }

    @SuppressWarnings("unchecked")
    static void startBuild(Map<String, Object> msg) {
        long id = asLong(msg.get("build"));
        String wsName = String.valueOf(msg.getOrDefault("workspace_name", msg.get("name")));
        List<Object> steps = (List<Object>) msg.getOrDefault("steps", new ArrayList<>());
        Map<String, Object> env = (Map<String, Object>) msg.getOrDefault("env", new LinkedHashMap<>());
        Build b = new Build(id, new File(new File(workDir, "workspace"), wsName), steps, env);
        builds.put(id, b);
        Thread t = new Thread(b, "build-" + id);
        t.setDaemon(true);
        t.start();
    }

    static final class Build implements Runnable {
        final long id;
        final File workspace;
        final List<Object> steps;
        final Map<String, Object> env;
        private volatile boolean aborted;
        private Process current;

        Build(long id, File workspace, List<Object> steps, Map<String, Object> env) {
            this.id = id;
            this.workspace = workspace;
            this.steps = steps;
            this.env = env;
        }

        synchronized void abort() {
            aborted = true;
            if (current != null) {
                kill(current);
            }
        }

        private static void kill(Process p) {
            // Children first (docker CLI, shells...), then the step's shell itself.
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
            try {
                Thread.sleep(200);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }

        @Override
        public void run() {
            String result = "SUCCESS";
            try {
                if (!workspace.isDirectory() && !workspace.mkdirs()) {
                    throw new IOException("cannot create workspace " + workspace);
                }
                for (int i = 0; i < steps.size(); i++) {
                    if (aborted) {
                        result = "ABORTED";
                        break;
                    }
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("type", "step_start");
                    m.put("build", id);
                    m.put("step", (long) i);
                    send(m);
                    int rc = runStep(i, String.valueOf(steps.get(i)));
                    m = new LinkedHashMap<>();
                    m.put("type", "step_end");
                    m.put("build", id);
                    m.put("step", (long) i);
                    m.put("exit_code", (long) rc);
                    send(m);
                    if (aborted) {
                        result = "ABORTED";
                        break;
                    }
                    if (rc != 0) {
                        result = "FAILURE";
                        break;
                    }
                }
            } catch (IOException | RuntimeException e) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("type", "output");
                m.put("build", id);
                m.put("step", -1L);
                m.put("data", "ERROR: " + e + "\n");
                send(m);
                result = aborted ? "ABORTED" : "FAILURE";
            }
            builds.remove(id);
            Map<String, Object> end = new LinkedHashMap<>();
            end.put("type", "build_end");
            end.put("build", id);
            end.put("result", result);
            send(end);
        }

        private int runStep(int index, String script) throws IOException {
            ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", script);
            pb.directory(workspace);
            pb.redirectErrorStream(true);
            pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            Map<String, String> penv = pb.environment();
            for (Map.Entry<String, Object> e : env.entrySet()) {
                penv.put(e.getKey(), String.valueOf(e.getValue()));
            }
            penv.put("WORKSPACE", workspace.getPath());
            penv.put("WORKSPACE_TMP", workspace.getPath() + "@tmp");
            Process p;
            synchronized (this) {
                if (aborted) {
                    return 143;
                }
                p = pb.start();
                current = p;
            }
            try (Reader r = new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)) {
                char[] buf = new char[8192];
                int n;
                while ((n = r.read(buf)) > 0) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("type", "output");
                    m.put("build", id);
                    m.put("step", (long) index);
                    m.put("data", new String(buf, 0, n));
                    send(m);
                }
            }
            int rc;
            try {
                rc = p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                kill(p);
                rc = 143;
            }
            synchronized (this) {
                current = null;
            }
            return rc;
        }
    }

    /** Just enough JSON: objects, arrays, strings, numbers (as Long or Double), true/false/null. */
    static final class Json {
        private final String s;
        private int i;

        Json(String s) {
            this.s = s;
        }

        Object parse() {
            Object v = value();
            ws();
            if (i != s.length()) {
                throw new IllegalArgumentException("trailing data at " + i);
            }
            return v;
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private Object value() {
            ws();
            if (i >= s.length()) {
                throw new IllegalArgumentException("unexpected end");
            }
            char c = s.charAt(i);
            switch (c) {
                case '{': {
                    i++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    ws();
                    if (s.charAt(i) == '}') {
                        i++;
                        return m;
                    }
                    while (true) {
                        ws();
                        String k = string();
                        ws();
                        expect(':');
                        m.put(k, value());
                        ws();
                        if (s.charAt(i) == ',') {
                            i++;
                            continue;
                        }
                        expect('}');
                        return m;
                    }
                }
                case '[': {
                    i++;
                    List<Object> l = new ArrayList<>();
                    ws();
                    if (s.charAt(i) == ']') {
                        i++;
                        return l;
                    }
                    while (true) {
                        l.add(value());
                        ws();
                        if (s.charAt(i) == ',') {
                            i++;
                            continue;
                        }
                        expect(']');
                        return l;
                    }
                }
                case '"':
                    return string();
                case 't':
                    return literal("true", Boolean.TRUE);
                case 'f':
                    return literal("false", Boolean.FALSE);
                case 'n':
                    return literal("null", null);
                default:
                    return number();
            }
        }

        private Object literal(String word, Object v) {
            if (!s.startsWith(word, i)) {
                throw new IllegalArgumentException("bad literal at " + i);
            }
            i += word.length();
            return v;
        }

        private Object number() {
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            String n = s.substring(start, i);
            if (n.isEmpty()) {
                throw new IllegalArgumentException("bad value at " + start);
            }
            if (n.contains(".") || n.contains("e") || n.contains("E")) {
                return Double.parseDouble(n);
            }
            return Long.parseLong(n);
        }

        private void expect(char c) {
            if (i >= s.length() || s.charAt(i) != c) {
                throw new IllegalArgumentException("expected " + c + " at " + i);
            }
            i++;
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 'r': b.append('\r'); break;
                    case 't': b.append('\t'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u':
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                        break;
                    default: b.append(e);
                }
            }
        }

        static String write(Object o) {
            StringBuilder b = new StringBuilder();
            write(b, o);
            return b.toString();
        }

        @SuppressWarnings("unchecked")
        private static void write(StringBuilder b, Object o) {
            if (o == null) {
                b.append("null");
            } else if (o instanceof String) {
                quote(b, (String) o);
            } else if (o instanceof Number || o instanceof Boolean) {
                b.append(o);
            } else if (o instanceof Map) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<String, Object> e : ((Map<String, Object>) o).entrySet()) {
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    quote(b, e.getKey());
                    b.append(':');
                    write(b, e.getValue());
                }
                b.append('}');
            } else if (o instanceof List) {
                b.append('[');
                boolean first = true;
                for (Object v : (List<Object>) o) {
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    write(b, v);
                }
                b.append(']');
            } else {
                quote(b, o.toString());
            }
        }

        private static void quote(StringBuilder b, String s) {
            b.append('"');
            for (int k = 0; k < s.length(); k++) {
                char c = s.charAt(k);
                switch (c) {
                    case '"': b.append("\\\""); break;
                    case '\\': b.append("\\\\"); break;
                    case '\n': b.append("\\n"); break;
                    case '\r': b.append("\\r"); break;
                    case '\t': b.append("\\t"); break;
                    default:
                        if (c < 0x20 || c > 0x7e) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                }
            }
            b.append('"');
        }
    }

    private Remoting() {
    }
}
