// WriteJdbcTest.java - JDBC (Debian's PostgreSQL driver) writing Stripe
// customers through `tether proxy --source stripe`: PreparedStatement
// updates (server-side prepared after the threshold), the seed scenario with
// an invalid email caught as SQLException (SQLSTATE, message, DETAIL),
// read-after-write, INSERT ... RETURNING the API's id via getGeneratedKeys,
// DELETE, and autocommit off (NOTICE warning, rollback keeps the API write,
// an API error aborts the transaction).
import java.io.*;
import java.net.*;
import java.nio.file.*;
import java.sql.*;
import java.util.*;

public class WriteJdbcTest {
    static String emu;
    static String url;

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static String api(String path) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(emu + path).openConnection();
        c.setRequestProperty("Authorization", "Bearer sk_test_tether");
        try (InputStream in = c.getInputStream()) {
            return new String(in.readAllBytes());
        }
    }

    public static void main(String[] args) throws Exception {
        String src = System.getenv("TETHER_SOURCE_DIR");
        Path work = Files.createTempDirectory("tether-jdbc-write.");
        String envSh = src + "/tests/integration/write_tools/env.sh";
        Process p = new ProcessBuilder(envSh, "start", work.toString())
                        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) throw new RuntimeException("env.sh start failed");
        Map<String, String> env = new HashMap<>();
        for (String line : out.trim().split("\n")) {
            int i = line.indexOf('=');
            env.put(line.substring(0, i), line.substring(i + 1));
        }
        emu = env.get("EMU_URL");
        url = "jdbc:postgresql://127.0.0.1:" + env.get("PX_PORT") + "/" + System.getenv("PGDATABASE")
              + "?sslmode=disable&prepareThreshold=2";
        try {
            run();
            System.out.println("PASS WriteJdbcTest");
        } finally {
            new ProcessBuilder(envSh, "stop", work.toString()).inheritIO().start().waitFor();
            new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor();
        }
    }

    static void run() throws Exception {
        try (Connection c = DriverManager.getConnection(url, "postgres", "postgres")) {
            List<String> ids = new ArrayList<>();
            try (ResultSet rs = c.createStatement().executeQuery(
                     "SELECT id FROM stripe.customer ORDER BY id LIMIT 3")) {
                while (rs.next()) ids.add(rs.getString(1));
            }
            String id = ids.get(0);
            // seed: update email with a PreparedStatement, several times (server-side prepared)
            try (PreparedStatement ps = c.prepareStatement("UPDATE stripe.customer SET email = ? WHERE id = ?")) {
                for (int i = 0; i < 4; i++) {
                    ps.setString(1, "jdbc" + i + "@email.com");
                    ps.setString(2, id);
                    check(ps.executeUpdate() == 1, "update count");
                }
            }
            check(api("/v1/customers/" + id).contains("\"jdbc3@email.com\""), "API email");
            try (PreparedStatement ps = c.prepareStatement("SELECT email FROM stripe.customer WHERE id = ?")) {
                ps.setString(1, id);
                ResultSet rs = ps.executeQuery();
                check(rs.next() && rs.getString(1).equals("jdbc3@email.com"), "read-after-write");
            }
            // invalid email: SQLException with SQLSTATE, message, DETAIL
            try (PreparedStatement ps = c.prepareStatement("UPDATE stripe.customer SET email = ? WHERE id = ?")) {
                ps.setString(1, "new@");
                ps.setString(2, id);
                ps.executeUpdate();
                throw new AssertionError("invalid email accepted");
            } catch (SQLException e) {
                check("22023".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
                check(e.getMessage().contains("Error updating customer " + id + ": Invalid email address: new@"),
                      e.getMessage());
                org.postgresql.util.ServerErrorMessage m =
                    ((org.postgresql.util.PSQLException) e).getServerErrorMessage();
                check(m.getDetail().contains("code email_invalid, param email"), "detail " + m.getDetail());
            }
            // INSERT ... RETURNING via generated keys, then DELETE
            String nid;
            try (PreparedStatement ps = c.prepareStatement(
                     "INSERT INTO stripe.customer (email, name) VALUES (?, ?)", new String[] {"id", "created"})) {
                ps.setString(1, "jdbc-made@example.com");
                ps.setString(2, "Jdbc");
                check(ps.executeUpdate() == 1, "insert count");
                ResultSet keys = ps.getGeneratedKeys();
                check(keys.next(), "generated keys");
                nid = keys.getString("id");
                check(nid.startsWith("cus_"), "API id " + nid);
                check(keys.getTimestamp("created") != null, "created");
            }
            check(api("/v1/customers/" + nid).contains("jdbc-made@example.com"), "created at the API");
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM stripe.customer WHERE id = ?")) {
                ps.setString(1, nid);
                check(ps.executeUpdate() == 1, "delete count");
            }
            check(api("/v1/customers/" + nid).replace(" ", "").contains("\"deleted\":true"), "deleted at the API");
            // autocommit off: the write stays after rollback, with a warning (NOTICE)
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("UPDATE stripe.customer SET name = ? WHERE id = ?")) {
                ps.setString(1, "jdbc-tx");
                ps.setString(2, ids.get(1));
                check(ps.executeUpdate() == 1, "tx update");
                SQLWarning w = ps.getWarnings();
                check(w != null && w.getMessage().contains("stays even if this transaction rolls back"),
                      "NOTICE warning");
            }
            c.rollback();
            check(api("/v1/customers/" + ids.get(1)).contains("jdbc-tx"), "API after rollback");
            try (PreparedStatement ps = c.prepareStatement("UPDATE stripe.customer SET email = ? WHERE id = ?")) {
                ps.setString(1, "bad@");
                ps.setString(2, ids.get(1));
                ps.executeUpdate();
                throw new AssertionError("bad email accepted in a transaction");
            } catch (SQLException e) {
                check("22023".equals(e.getSQLState()), "tx SQLSTATE " + e.getSQLState());
            }
            try {
                c.createStatement().executeQuery("SELECT 1");
                throw new AssertionError("transaction not aborted");
            } catch (SQLException e) {
                check("25P02".equals(e.getSQLState()), "aborted: " + e.getSQLState());
            }
            c.rollback();
            c.setAutoCommit(true);
            try (ResultSet rs = c.createStatement().executeQuery(
                     "SELECT name FROM stripe.customer WHERE id = '" + ids.get(1) + "'")) {
                check(rs.next() && rs.getString(1).equals("jdbc-tx"), "row after rollback");
            }
        }
    }
}
