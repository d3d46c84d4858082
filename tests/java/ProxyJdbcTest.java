// ProxyJdbcTest.java - Debian's PostgreSQL JDBC driver through `tether proxy`
// against the real test cluster: SCRAM and TLS (sslmode=require) logins,
// PreparedStatement with server-side prepare (prepareThreshold=1), batches,
// transactions with rollback, SQLException fields (SQLSTATE, detail, hint,
// position), warnings from RAISE NOTICE, CopyManager in/out, LISTEN/NOTIFY,
// and Statement.cancel() of a pg_sleep. TETHER_TEST_DIRECT=1 checks Postgres
// itself. Run by tests/harness/run-java.sh (single-file source launch).
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.StringReader;
import java.nio.file.Files;
import java.sql.*;
import java.util.*;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

public class ProxyJdbcTest {
    static final String PROXY_SH = System.getenv("TETHER_SOURCE_DIR") + "/tests/harness/proxy.sh";
    static final File WORK = createWork();
    static final List<String> started = new ArrayList<>();
    static int failures = 0, passes = 0;

    static File createWork() {
        try { return Files.createTempDirectory("tether-jdbc.").toFile(); } catch (Exception e) { throw new RuntimeException(e); }
    }

    static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        if (p.waitFor() != 0) throw new RuntimeException("failed: " + String.join(" ", cmd));
        return out;
    }

    static int startProxy(String name, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(PROXY_SH, "start", new File(WORK, name).getPath()));
        cmd.addAll(List.of(args));
        started.add(name); // stopped in main's finally even if the start fails half-way
        return Integer.parseInt(run(cmd.toArray(new String[0])));
    }

    static Connection connect(int port, String sslmode) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "postgres");
        p.setProperty("password", "postgres");
        p.setProperty("sslmode", sslmode);
        p.setProperty("prepareThreshold", "1");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/" + System.getenv("PGDATABASE"), p);
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    interface Body { void run() throws Exception; }

    static void test(String name, Body body) {
        try {
            body.run();
            passes++;
            System.out.println("ok - " + name);
        } catch (Throwable t) {
            failures++;
            System.out.println("not ok - " + name + ": " + t);
            t.printStackTrace(System.out);
        }
    }

    public static void main(String[] args) throws Exception {
        try {
            int scram = startProxy("scram", "--auth", "scram");
            int tls = startProxy("tls", "--auth", "scram", "--tls");
            test("SCRAM and TLS logins", () -> {
                try (Connection c = connect(scram, "disable"); ResultSet r = c.createStatement().executeQuery("SELECT 1")) {
                    check(r.next() && r.getInt(1) == 1, "SELECT 1");
                }
                try (Connection c = connect(tls, "require"); ResultSet r = c.createStatement().executeQuery("SELECT 2")) {
                    check(r.next() && r.getInt(1) == 2, "SELECT 2 over TLS");
                }
            });
            test("prepared statements, batches, transactions", () -> {
                try (Connection c = connect(scram, "disable")) {
                    Statement s = c.createStatement();
                    s.execute("CREATE TABLE IF NOT EXISTS jdbc_items (id int PRIMARY KEY, name text)");
                    s.execute("TRUNCATE jdbc_items");
                    try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_items VALUES (?, ?)")) {
                        for (int i = 0; i < 100; i++) { ps.setInt(1, i); ps.setString(2, "n" + i); ps.addBatch(); }
                        int[] counts = ps.executeBatch();
                        check(counts.length == 100, "batch size");
                    }
                    try (PreparedStatement ps = c.prepareStatement("SELECT name FROM jdbc_items WHERE id = ?")) {
                        for (int i = 0; i < 10; i++) {
                            ps.setInt(1, i);
                            try (ResultSet r = ps.executeQuery()) { check(r.next() && r.getString(1).equals("n" + i), "row " + i); }
                        }
                    }
                    c.setAutoCommit(false);
                    s.execute("INSERT INTO jdbc_items VALUES (1000, 'x')");
                    try { s.execute("SELECT 1/0"); check(false, "no error"); }
                    catch (PSQLException e) { check("22012".equals(e.getSQLState()), "22012"); }
                    try { s.execute("SELECT 1"); check(false, "no error in aborted tx"); }
                    catch (PSQLException e) { check("25P02".equals(e.getSQLState()), "25P02"); }
                    c.rollback();
                    c.setAutoCommit(true);
                    try (ResultSet r = s.executeQuery("SELECT count(*) FROM jdbc_items WHERE id = 1000")) {
                        check(r.next() && r.getInt(1) == 0, "rolled back");
                    }
                }
            });
            test("error fields and notices", () -> {
                try (Connection c = connect(scram, "disable")) {
                    Statement s = c.createStatement();
                    try {
                        s.execute("DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'P0099', DETAIL = 'd1', HINT = 'h1'; END $$");
                        check(false, "no error");
                    } catch (PSQLException e) {
                        ServerErrorMessage m = e.getServerErrorMessage();
                        check("P0099".equals(m.getSQLState()), "sqlstate");
                        check("boom".equals(m.getMessage()), "message");
                        check("d1".equals(m.getDetail()), "detail");
                        check("h1".equals(m.getHint()), "hint");
                        check("ERROR".equals(m.getSeverity()), "severity");
                        check(m.getRoutine() != null, "routine");
                    }
                    try { s.execute("SELECT nosuch FROM pg_class"); check(false, "no error"); }
                    catch (PSQLException e) { check(e.getServerErrorMessage().getPosition() == 8, "position"); }
                    s.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
                    SQLWarning w = s.getWarnings();
                    check(w != null && w.getMessage().contains("hello 42"), "notice as warning");
                }
            });
            test("COPY in and out", () -> {
                try (Connection c = connect(scram, "disable")) {
                    c.createStatement().execute("CREATE TABLE IF NOT EXISTS jdbc_copy (id int, name text)");
                    c.createStatement().execute("TRUNCATE jdbc_copy");
                    StringBuilder sb = new StringBuilder();
                    for (int i = 0; i < 5000; i++) sb.append(i).append(",name ").append(i).append('\n');
                    CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
                    long n = cm.copyIn("COPY jdbc_copy FROM STDIN WITH (FORMAT csv)", new StringReader(sb.toString()));
                    check(n == 5000, "copy in count " + n);
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    cm.copyOut("COPY (SELECT * FROM jdbc_copy ORDER BY id) TO STDOUT WITH (FORMAT csv)", out);
                    check(out.toString().equals(sb.toString()), "copy out matches");
                }
            });
            test("LISTEN/NOTIFY and cancel", () -> {
                try (Connection l = connect(scram, "disable"); Connection s = connect(scram, "disable")) {
                    l.createStatement().execute("LISTEN jdbc_chan");
                    s.createStatement().execute("NOTIFY jdbc_chan, 'payload-j'");
                    PGNotification[] ns = l.unwrap(PGConnection.class).getNotifications(10000);
                    check(ns != null && ns.length == 1 && ns[0].getParameter().equals("payload-j"), "notification");
                    Statement st = s.createStatement();
                    Thread t = new Thread(() -> { try { Thread.sleep(1000); st.cancel(); } catch (Exception e) { } });
                    t.start();
                    try { st.execute("SELECT pg_sleep(30)"); check(false, "not cancelled"); }
                    catch (PSQLException e) { check("57014".equals(e.getSQLState()), "57014, got " + e.getSQLState()); }
                    t.join();
                }
            });
        } finally {
            for (String name : started) run(PROXY_SH, "stop", new File(WORK, name).getPath());
            run("rm", "-rf", WORK.getPath());
        }
        System.out.println(passes + " passed, " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }
}
