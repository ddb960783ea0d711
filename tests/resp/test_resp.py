#!/usr/bin/env python3
"""Black-box compatibility suite for a RESP (Redis protocol) server.

It checks Redis 7.0 behaviour, exact reply types and error texts included,
found by running every case against a real redis-server 7.0 (see
run_redis.sh), so the same file can later be pointed, unchanged, at ferry's
RESP front end (ferry-proxy).

Environment:
  RESP_HOST    host of the server (default 127.0.0.1)
  RESP_PORT    TCP port (default 6379)
  RESP_UNIX    optional Unix socket path: if set, a smoke subset also runs
               over it (otherwise those cases are reported as SKIP)
  RESP_TARGET  "redis" (default) or "ferry": only for the intentional
               differences listed below
  RESP_DEADLINE  seconds for the whole suite (default 300); cases not yet
               started by then fail at once (a hung target cannot hang it)
  RESP_PASSWORD  the server's password (Redis: requirepass; ferry: the
               cluster's admin token): every connection AUTHs with it, and
               the Auth cases run (otherwise SKIP)
  RESP_NS_TOKENS  ferry only: two namespaces' tokens, separated by a space,
               for the Namespaces cases (otherwise SKIP)
  RESP_CASES   unittest names to run when none are given as arguments

Output: TAP on stdout ("ok N - name", "not ok N - name", "ok N # SKIP
reason"), a plan line "1..N" and a closing "N passed, N failed, N skipped";
the exit status is 1 if any case failed. Arguments, if any, are unittest
names (e.g. "Strings.test_setrange") to run a subset.

Every case starts with FLUSHDB (which on ferry empties the caller's own
namespace only) and still uses key names unique to the case.

The server must publish keyspace and keyevent notifications for every
event class (Redis: --notify-keyspace-events KEA); the suite never sends
CONFIG.

==========================================================================
INTENTIONAL DIFFERENCES (the only ones; asserted per RESP_TARGET)
  1. SELECT with a non-zero index.
       redis: SELECT 1 -> +OK (a separate keyspace); SELECT 16 / -1 ->
              "-ERR DB index is out of range".
       ferry: any non-zero index -> an error reply ("-ERR ..."), and the
              connection stays usable, still on database 0.
     SELECT 0 -> +OK and a non-integer index -> "-ERR value is not an
     integer or out of range" are the same on both.
  2. CONFIG is not required: no case sends CONFIG (the Redis run sets
     notify-keyspace-events on its command line).
  3. DBSIZE / KEYS / SCAN count only the caller's namespace on ferry. For
     a single client this is exactly Redis's behaviour, so no case
     branches on it.
  4. The empty key. ferry keys are 1..1024 bytes: SET "" v is an error
     reply ("-ERR ..."); an empty value is fine on both.
  5. Speed of a million-key command: ferry runs one fabric operation per
     key, so the 1048577-argument EXISTS gets a longer time limit.
  6. Users. ferry's password is a token, whatever the user name: the admin
     token (RESP_PASSWORD) or a namespace's (the Namespaces cases, ferry
     only); no case names another user with the right password.
Everything else must match Redis 7.0.
==========================================================================
"""

import os
import random
import socket
import string
import sys
import time
import unittest

try:
    import redis
except ImportError:
    # python3-redis is a Debian package: if this interpreter (say, a pyenv
    # one first on PATH) cannot import it, run again under the system one.
    if (os.path.exists("/usr/bin/python3") and sys.executable !=
            "/usr/bin/python3" and not os.environ.get("RESP_REEXEC")):
        os.environ["RESP_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    redis = None  # the cases that need it fail, saying so

HOST = os.environ.get("RESP_HOST", "127.0.0.1")
PORT = int(os.environ.get("RESP_PORT", "6379"))
UNIX = os.environ.get("RESP_UNIX") or None
TARGET = os.environ.get("RESP_TARGET", "redis")
if TARGET not in ("redis", "ferry"):
    print("Bail out! RESP_TARGET must be 'redis' or 'ferry', not %r" % TARGET)
    sys.exit(2)

IO_TIMEOUT = 5.0  # any single read that takes longer is a failure
QUIET = 0.3  # how long "no reply" must hold to count as no reply
DEADLINE = int(os.environ.get("RESP_DEADLINE", "300"))  # whole suite, s
LLONG_MAX = 9223372036854775807
LLONG_MIN = -9223372036854775808

E_NOTINT = "ERR value is not an integer or out of range"
E_OVERFLOW = "ERR increment or decrement would overflow"
E_SYNTAX = "ERR syntax error"
E_AUTH_NOPASS = ("ERR AUTH <password> called without any password "
                 "configured for the default user. Are you sure your "
                 "configuration is correct?")
E_NOAUTH = "NOAUTH Authentication required."
E_WRONGPASS = ("WRONGPASS invalid username-password pair or user is "
               "disabled.")
E_HELLO_NOAUTH = ("NOAUTH HELLO must be called with the client already "
                  "authenticated, otherwise the HELLO AUTH <user> <pass> "
                  "option can be used to authenticate the client and "
                  "select the RESP protocol version at the same time")
PASSWORD = os.environ.get("RESP_PASSWORD") or None
NS_TOKENS = (os.environ.get("RESP_NS_TOKENS") or "").split()


def arity(cmd):
    return "ERR wrong number of arguments for '%s' command" % cmd


def bad_expire(cmd):
    return "ERR invalid expire time in '%s' command" % cmd


def unknown(name, *args):
    """Redis 7.0's unknown-command text, truncation rules included."""
    a = ""
    for x in args:
        if len(a) >= 128:
            break
        a += "'%s' " % x[:128 - len(a)]
    return "ERR unknown command '%s', with args beginning with: %s" % (
        name[:128], a)


# ---------------------------------------------------------------------------
# A small RESP2/RESP3 client over a raw socket, so that reply *types* and
# exact bytes can be asserted (python3-redis hides both).

class Err(str):
    """An error reply; the value is its text without the leading '-'."""

    def __repr__(self):
        return "Err(%s)" % str.__repr__(self)


class Simple(str):
    """A simple-string reply (+OK)."""

    def __repr__(self):
        return "Simple(%s)" % str.__repr__(self)


class Verbatim(bytes):
    pass


class Push(list):
    pass


class RespSet(list):
    pass


class Closed(Exception):
    pass


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, unix=None, timeout=IO_TIMEOUT, auth=True):
        if unix:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(unix)
        else:
            s = socket.create_connection((HOST, PORT), timeout=timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        self.s = s
        self.timeout = timeout
        self.buf = bytearray()
        self.trace = None
        if PASSWORD and auth:
            v = self.cmd("AUTH", PASSWORD)
            if v != "OK":
                raise AssertionError("AUTH with RESP_PASSWORD: %r" % (v,))

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        try:
            d = self.s.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            raise Closed("connection reset")
        if not d:
            raise Closed("connection closed by server")
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                if self.trace is not None:
                    self.trace += self.buf[:i + 2]
                del self.buf[:i + 2]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data = bytes(self.buf[:n])
        if self.buf[n:n + 2] != b"\r\n":
            raise AssertionError("bulk payload not followed by CRLF")
        if self.trace is not None:
            self.trace += self.buf[:n + 2]
        del self.buf[:n + 2]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return Simple(rest.decode("utf-8", "replace"))
        if t == b"-":
            return Err(rest.decode("utf-8", "replace"))
        if t in (b":", b"("):
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return None
            items = [self.read() for _ in range(n)]
            return {b"*": list, b"~": RespSet, b">": Push}[t](items)
        if t == b"%":
            d = {}
            for _ in range(int(rest)):
                k = self.read()
                d[k if not isinstance(k, list) else tuple(k)] = self.read()
            return d
        if t == b"_":
            return None
        if t == b"#":
            return rest == b"t"
        if t == b",":
            return float(rest)
        if t == b"=":
            return Verbatim(self._exact(int(rest)))
        if t == b"!":
            return Err(self._exact(int(rest)).decode("utf-8", "replace"))
        if t == b"|":
            for _ in range(int(rest)):
                self.read()
                self.read()
            return self.read()
        raise AssertionError("unknown RESP type byte in %r" % line[:40])

    def cmd(self, *args):
        self.send(encode(*args))
        return self.read()

    def cmd_raw(self, *args):
        """Sends a command; returns (parsed reply, exact reply bytes)."""
        self.send(encode(*args))
        return self.read_raw()

    def read_raw(self):
        self.trace = bytearray()
        try:
            v = self.read()
            return v, bytes(self.trace)
        finally:
            self.trace = None

    def pending(self):
        """Bytes the server sent that no read consumed."""
        return bytes(self.buf)

    def wait_closed(self, timeout=3.0):
        """True once the server closes; False if it stays open that long.
        Anything it sends meanwhile is kept in self.buf."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        finally:
            self.s.settimeout(self.timeout)

    def quiet(self, wait=QUIET):
        """Waits `wait` seconds; returns (bytes received, closed?)."""
        end = time.monotonic() + wait
        closed = False
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.s.settimeout(left)
                d = self.s.recv(65536)
                if not d:
                    closed = True
                    break
                self.buf += d
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        finally:
            self.s.settimeout(self.timeout)
        data = bytes(self.buf)
        self.buf.clear()
        return data, closed


# ---------------------------------------------------------------------------

class Base(unittest.TestCase):
    unix = None

    def setUp(self):
        self._conns = []
        self._clients = []
        self.pfx = "%s:%s:" % (self._testMethodName[5:],
                               "".join(random.choice(string.ascii_lowercase)
                                       for _ in range(6)))
        self.r = self.conn()
        self.assertEqual(self.r.cmd("FLUSHDB"), "OK")

    def tearDown(self):
        for c in self._conns:
            c.close()
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass

    def k(self, name=""):
        """A key name unique to this case."""
        return self.pfx + name

    def conn(self, unix=None, auth=True):
        c = Conn(unix=unix or self.unix, auth=auth)
        self._conns.append(c)
        return c

    def py(self, unix=None, **kw):
        if redis is None:
            self.fail("python3-redis is not importable by %s" % sys.executable)
        kw.setdefault("password", PASSWORD)
        unix = unix or self.unix
        if unix:
            c = redis.Redis(unix_socket_path=unix, socket_timeout=IO_TIMEOUT,
                            **kw)
        else:
            c = redis.Redis(host=HOST, port=PORT, socket_timeout=IO_TIMEOUT,
                            **kw)
        self._clients.append(c)
        return c

    def assertErr(self, reply, text):
        self.assertIsInstance(reply, Err, "expected error %r, got %r"
                              % (text, reply))
        self.assertEqual(str(reply), text)

    def assertOK(self, reply):
        self.assertIsInstance(reply, Simple, "expected +OK, got %r" % (reply,))
        self.assertEqual(reply, "OK")

    def assertBetween(self, v, lo, hi):
        self.assertIsInstance(v, int)
        self.assertTrue(lo <= v <= hi, "%r not in [%r, %r]" % (v, lo, hi))

    def assertWorks(self):
        """A new connection to the server still works."""
        c = self.conn()
        self.assertEqual(c.cmd("PING"), "PONG")
        c.close()


# ---------------------------------------------------------------------------

class Connection(Base):
    def test_ping_no_arg(self):
        v, raw = self.r.cmd_raw("PING")
        self.assertEqual(raw, b"+PONG\r\n")

    def test_ping_with_arg(self):
        v, raw = self.r.cmd_raw("PING", "hello")
        self.assertEqual(raw, b"$5\r\nhello\r\n")
        self.assertEqual(self.r.cmd("PING", b"a\x00b\r\n"), b"a\x00b\r\n")

    def test_ping_arity(self):
        self.assertErr(self.r.cmd("PING", "a", "b"), arity("ping"))

    def test_echo(self):
        v, raw = self.r.cmd_raw("ECHO", "hi there")
        self.assertEqual(raw, b"$8\r\nhi there\r\n")
        self.assertEqual(self.r.cmd("ECHO", b"a\x00b\r\nc"), b"a\x00b\r\nc")
        v, raw = self.r.cmd_raw("ECHO", "")
        self.assertEqual(raw, b"$0\r\n\r\n")

    def test_echo_arity(self):
        self.assertErr(self.r.cmd("ECHO"), arity("echo"))
        self.assertErr(self.r.cmd("ECHO", "a", "b"), arity("echo"))

    def test_command_names_case_insensitive(self):
        self.assertOK(self.r.cmd("sEt", self.k("a"), "1"))
        self.assertEqual(self.r.cmd("get", self.k("a")), b"1")
        # the arity error names the command in lower case, however sent
        self.assertErr(self.r.cmd("GeT"), arity("get"))

    def test_hello_2(self):
        v = self.r.cmd("HELLO", "2")
        self.assertIsInstance(v, list)
        self.assertEqual(len(v), 14)
        d = dict(zip(v[0::2], v[1::2]))
        self.assertEqual(list(d), [b"server", b"version", b"proto", b"id",
                                   b"mode", b"role", b"modules"])
        self.assertEqual(d[b"proto"], 2)
        self.assertIsInstance(d[b"id"], int)
        self.assertIsInstance(d[b"server"], bytes)
        self.assertIsInstance(d[b"version"], bytes)
        self.assertIsInstance(d[b"modules"], list)
        self.assertEqual(d[b"id"], self.r.cmd("CLIENT", "ID"))

    def test_hello_no_arg_is_current_protocol(self):
        v = self.r.cmd("HELLO")
        self.assertIsInstance(v, list)
        d = dict(zip(v[0::2], v[1::2]))
        self.assertEqual(d[b"proto"], 2)

    def test_hello_3_map_and_resp3_replies(self):
        c = self.r
        c.send(encode("HELLO", "3"))
        v, raw = c.read_raw()
        self.assertTrue(raw.startswith(b"%7\r\n"), raw[:20])
        self.assertIsInstance(v, dict)
        self.assertEqual(set(v), {b"server", b"version", b"proto", b"id",
                                  b"mode", b"role", b"modules"})
        self.assertEqual(v[b"proto"], 3)
        self.assertIsInstance(v[b"id"], int)
        # RESP3 null and plain types
        self.assertEqual(c.cmd_raw("GET", self.k("none"))[1], b"_\r\n")
        self.assertEqual(c.cmd_raw("SET", self.k("a"), "1")[1], b"+OK\r\n")
        self.assertEqual(c.cmd_raw("INCR", self.k("a"))[1], b":2\r\n")
        self.assertEqual(c.cmd_raw("GET", self.k("a"))[1], b"$1\r\n2\r\n")
        self.assertEqual(c.cmd_raw("MGET", self.k("a"), self.k("none"))[1],
                         b"*2\r\n$1\r\n2\r\n_\r\n")
        # and back to RESP2
        v, raw = c.cmd_raw("HELLO", "2")
        self.assertTrue(raw.startswith(b"*14\r\n"), raw[:20])
        self.assertEqual(c.cmd_raw("GET", self.k("none"))[1], b"$-1\r\n")

    def test_hello_setname(self):
        v = self.r.cmd("HELLO", "2", "SETNAME", "cli-" + self.pfx[:4])
        self.assertIsInstance(v, list)
        self.assertEqual(self.r.cmd("CLIENT", "GETNAME"),
                         ("cli-" + self.pfx[:4]).encode())

    def test_hello_auth_default_user(self):
        # no password configured: the default user accepts any password
        v = self.r.cmd("HELLO", "2", "AUTH", "default", PASSWORD or "any")
        self.assertIsInstance(v, list)
        if PASSWORD:
            self.assertErr(self.r.cmd("HELLO", "2", "AUTH", "default",
                                      "anything"), E_WRONGPASS)

    def test_hello_errors(self):
        self.assertErr(self.r.cmd("HELLO", "4"),
                       "NOPROTO unsupported protocol version")
        self.assertErr(self.r.cmd("HELLO", "1"),
                       "NOPROTO unsupported protocol version")
        self.assertErr(self.r.cmd("HELLO", "abc"),
                       "ERR Protocol version is not an integer or out of range")
        self.assertErr(self.r.cmd("HELLO", "2", "FOO"),
                       "ERR Syntax error in HELLO option 'FOO'")
        self.assertErr(self.r.cmd("HELLO", "3", "AUTH", "default"),
                       "ERR Syntax error in HELLO option 'AUTH'")
        # the protocol did not change
        self.assertEqual(self.r.cmd_raw("GET", self.k())[1], b"$-1\r\n")

    def test_auth_without_password(self):
        self.assertErr(self.r.cmd("AUTH", "secret"),
                       E_WRONGPASS if PASSWORD else E_AUTH_NOPASS)
        self.assertEqual(self.r.cmd("PING"), "PONG")

    def test_auth_default_user_any_password(self):
        if PASSWORD:
            self.assertErr(self.r.cmd("AUTH", "default", "whatever"),
                           E_WRONGPASS)
            self.assertOK(self.r.cmd("AUTH", "default", PASSWORD))
        else:
            self.assertOK(self.r.cmd("AUTH", "default", "whatever"))

    def test_auth_unknown_user(self):
        self.assertErr(self.r.cmd("AUTH", "nosuchuser", "pw"),
                       "WRONGPASS invalid username-password pair or user "
                       "is disabled.")

    def test_auth_arity(self):
        self.assertErr(self.r.cmd("AUTH"), arity("auth"))
        self.assertErr(self.r.cmd("AUTH", "a", "b", "c"), E_SYNTAX)

    def test_select_0(self):
        self.assertOK(self.r.cmd("SELECT", "0"))
        self.assertOK(self.r.cmd("SET", self.k(), "v"))
        self.assertEqual(self.r.cmd("GET", self.k()), b"v")

    def test_select_nonzero(self):
        c = self.r
        self.assertOK(c.cmd("SET", self.k(), "db0"))
        v = c.cmd("SELECT", "1")
        if TARGET == "redis":
            self.assertOK(v)
            try:
                self.assertEqual(c.cmd("GET", self.k()), None)
                self.assertOK(c.cmd("SET", self.k(), "db1"))
            finally:
                c.cmd("DEL", self.k())
                self.assertOK(c.cmd("SELECT", "0"))
        else:
            self.assertIsInstance(v, Err)
            self.assertTrue(v.startswith("ERR"), v)
        self.assertEqual(c.cmd("GET", self.k()), b"db0")

    def test_select_invalid(self):
        self.assertErr(self.r.cmd("SELECT", "abc"), E_NOTINT)
        self.assertErr(self.r.cmd("SELECT"), arity("select"))
        for idx in ("16", "-1"):
            v = self.r.cmd("SELECT", idx)
            if TARGET == "redis":
                self.assertErr(v, "ERR DB index is out of range")
            else:
                self.assertIsInstance(v, Err)
                self.assertTrue(v.startswith("ERR"), v)
        self.assertEqual(self.r.cmd("PING"), "PONG")

    def test_quit(self):
        c = self.conn()
        v, raw = c.cmd_raw("QUIT")
        self.assertEqual(raw, b"+OK\r\n")
        self.assertTrue(c.wait_closed(), "connection still open after QUIT")
        self.assertEqual(c.pending(), b"")
        self.assertWorks()

    def test_quit_discards_later_commands(self):
        c = self.conn()
        c.send(encode("QUIT") + encode("SET", self.k(), "x"))
        self.assertEqual(c.read_raw()[1], b"+OK\r\n")
        self.assertTrue(c.wait_closed())
        self.assertEqual(c.pending(), b"")
        self.assertEqual(self.r.cmd("EXISTS", self.k()), 0)

    def test_client_setname_getname(self):
        c = self.r
        self.assertEqual(c.cmd_raw("CLIENT", "GETNAME")[1], b"$-1\r\n")
        self.assertOK(c.cmd("CLIENT", "SETNAME", "worker-1"))
        self.assertEqual(c.cmd_raw("CLIENT", "GETNAME")[1],
                         b"$8\r\nworker-1\r\n")
        self.assertOK(c.cmd("CLIENT", "SETNAME", ""))
        self.assertEqual(c.cmd("CLIENT", "GETNAME"), None)

    def test_client_setname_invalid(self):
        for bad in ("a b", "a\nb"):
            self.assertErr(self.r.cmd("CLIENT", "SETNAME", bad),
                           "ERR Client names cannot contain spaces, newlines "
                           "or special characters.")
        self.assertErr(self.r.cmd("CLIENT", "SETNAME"), arity("client|setname"))
        self.assertErr(self.r.cmd("CLIENT", "GETNAME", "x"),
                       arity("client|getname"))

    def test_client_id(self):
        a = self.r.cmd("CLIENT", "ID")
        b = self.conn().cmd("CLIENT", "ID")
        self.assertIsInstance(a, int)
        self.assertIsInstance(b, int)
        self.assertGreater(a, 0)
        self.assertNotEqual(a, b)
        self.assertEqual(self.r.cmd("CLIENT", "ID"), a)
        self.assertErr(self.r.cmd("CLIENT", "ID", "x"), arity("client|id"))

    def test_client_info(self):
        self.assertOK(self.r.cmd("CLIENT", "SETNAME", "info-me"))
        cid = self.r.cmd("CLIENT", "ID")
        v = self.r.cmd("CLIENT", "INFO")
        self.assertIsInstance(v, bytes)
        self.assertTrue(v.startswith(b"id=%d " % cid), v[:40])
        self.assertIn(b" name=info-me ", v)
        self.assertIn(b" addr=", v)
        self.assertTrue(v.endswith(b"\n"), v[-10:])
        self.assertEqual(v.count(b"\n"), 1)
        # A long name: the whole line still comes back.
        name = "n" * 600
        self.assertOK(self.r.cmd("CLIENT", "SETNAME", name))
        v = self.r.cmd("CLIENT", "INFO")
        self.assertIn(b" name=%s " % name.encode(), v)
        self.assertTrue(v.endswith(b" resp=2\n"), v[-20:])

    def test_client_errors(self):
        self.assertErr(self.r.cmd("CLIENT"), arity("client"))
        self.assertErr(self.r.cmd("CLIENT", "FOO"),
                       "ERR unknown subcommand 'FOO'. Try CLIENT HELP.")

    def test_command_count(self):
        v = self.r.cmd("COMMAND", "COUNT")
        self.assertIsInstance(v, int)
        self.assertGreater(v, 0)
        self.assertErr(self.r.cmd("COMMAND", "COUNT", "x"),
                       arity("command|count"))

    def test_command_docs_get(self):
        v = self.r.cmd("COMMAND", "DOCS", "GET")
        self.assertIsInstance(v, list)
        self.assertEqual(len(v), 2)
        self.assertEqual(v[0], b"get")
        self.assertIsInstance(v[1], list)
        self.assertEqual(len(v[1]) % 2, 0)
        doc = dict(zip(v[1][0::2], v[1][1::2]))
        self.assertIsInstance(doc.get(b"summary"), bytes)
        self.assertEqual(doc.get(b"group"), b"string")

    def test_command_docs_unknown(self):
        self.assertEqual(self.r.cmd_raw("COMMAND", "DOCS", "nosuchcmd")[1],
                         b"*0\r\n")

    def test_info(self):
        v = self.r.cmd("INFO")
        self.assertIsInstance(v, bytes)
        self.assertIn(b"# Server\r\n", v)
        self.assertIn(b"\r\nredis_version:", v)
        v = self.r.cmd("INFO", "server")
        self.assertTrue(v.startswith(b"# Server\r\n"), v[:30])
        self.assertIn(b"redis_version:", v)

    def test_unknown_command(self):
        self.assertErr(self.r.cmd("FOO", "a"), unknown("FOO", "a"))
        self.assertErr(self.r.cmd("foo", "a"),
                       "ERR unknown command 'foo', with args beginning with: "
                       "'a' ")
        self.assertErr(self.r.cmd("FOO"),
                       "ERR unknown command 'FOO', with args beginning with: ")
        self.assertErr(self.r.cmd("foo", "a b", "c"),
                       "ERR unknown command 'foo', with args beginning with: "
                       "'a b' 'c' ")
        self.assertErr(self.r.cmd("FOO", "", "x"),
                       "ERR unknown command 'FOO', with args beginning with: "
                       "'' 'x' ")
        self.assertEqual(self.r.cmd("PING"), "PONG")

    def test_unknown_command_newlines_become_spaces(self):
        self.assertErr(self.r.cmd("FOO", "a\r\nb"),
                       "ERR unknown command 'FOO', with args beginning with: "
                       "'a  b' ")

    def test_unknown_command_truncation(self):
        name = "FOO" + "X" * 200
        v = self.r.cmd(name, "a" * 200, "b")
        self.assertErr(v, unknown(name, "a" * 200, "b"))
        self.assertEqual(len(v), len("ERR unknown command '', with args "
                                     "beginning with: ") + 128 + 128 + 3)
        self.assertErr(self.r.cmd("FOO", "a" * 125, "bcdef"),
                       unknown("FOO", "a" * 125, "bcdef"))
        args = ["x"] * 40
        v = self.r.cmd("FOO", *args)
        self.assertErr(v, "ERR unknown command 'FOO', with args beginning "
                       "with: " + "'x' " * 32)

    def test_arity_errors(self):
        cases = [
            ("GET",), ("GET", "a", "b"), ("SET", "k"), ("SETNX", "k"),
            ("SETEX", "k", "10"), ("PSETEX", "k", "10"), ("GETDEL",),
            ("GETEX",), ("GETRANGE", "k", "0"), ("SETRANGE", "k", "0"),
            ("APPEND", "k"), ("STRLEN",), ("MGET",), ("MSET", "a"),
            ("MSET", "a", "1", "b"), ("MSETNX", "a"), ("MSETNX", "a", "1", "b"),
            ("DEL",), ("UNLINK",), ("EXISTS",), ("INCR",), ("INCRBY", "k"),
            ("DECR",), ("DECRBY", "k"), ("EXPIRE", "k"), ("PEXPIRE", "k"),
            ("EXPIREAT", "k"), ("PEXPIREAT", "k"), ("TTL",), ("PTTL",),
            ("PERSIST",), ("KEYS",), ("KEYS", "a", "b"), ("SCAN",),
            ("TYPE",), ("TYPE", "a", "b"), ("DBSIZE", "x"),
            ("SUBSCRIBE",), ("PSUBSCRIBE",), ("STRLEN", "a", "b"),
            ("INCR", "a", "b"),
        ]
        for c in cases:
            with self.subTest(c=c):
                self.assertErr(self.r.cmd(*c), arity(c[0].lower()))
        self.assertEqual(self.r.cmd("DBSIZE"), 0)

    def test_dbsize(self):
        self.assertEqual(self.r.cmd_raw("DBSIZE")[1], b":0\r\n")
        for i in range(3):
            self.r.cmd("SET", self.k(str(i)), "v")
        self.r.cmd("SET", self.k("0"), "again")
        self.assertEqual(self.r.cmd("DBSIZE"), 3)
        self.r.cmd("DEL", self.k("1"))
        self.assertEqual(self.r.cmd("DBSIZE"), 2)

    def test_flushdb(self):
        for i in range(5):
            self.r.cmd("SET", self.k(str(i)), "v")
        self.assertEqual(self.r.cmd_raw("FLUSHDB")[1], b"+OK\r\n")
        self.assertEqual(self.r.cmd("DBSIZE"), 0)
        self.assertEqual(self.r.cmd("GET", self.k("0")), None)
        self.r.cmd("SET", self.k("x"), "v")
        self.assertOK(self.r.cmd("FLUSHDB", "ASYNC"))
        self.assertEqual(self.r.cmd("EXISTS", self.k("x")), 0)
        self.r.cmd("SET", self.k("x"), "v")
        self.assertOK(self.r.cmd("FLUSHDB", "sync"))
        self.assertEqual(self.r.cmd("DBSIZE"), 0)
        self.assertErr(self.r.cmd("FLUSHDB", "x"), E_SYNTAX)
        self.assertErr(self.r.cmd("FLUSHDB", "ASYNC", "x"), E_SYNTAX)

    def test_type(self):
        self.r.cmd("SET", self.k("s"), "v")
        self.assertEqual(self.r.cmd_raw("TYPE", self.k("s"))[1],
                         b"+string\r\n")
        self.assertEqual(self.r.cmd_raw("TYPE", self.k("none"))[1],
                         b"+none\r\n")

    def test_two_connections_share_keys(self):
        other = self.conn()
        self.assertOK(self.r.cmd("SET", self.k(), "from-a"))
        self.assertEqual(other.cmd("GET", self.k()), b"from-a")
        self.assertEqual(other.cmd("INCR", self.k("n")), 1)
        self.assertEqual(self.r.cmd("INCR", self.k("n")), 2)


class Strings(Base):
    def test_set_get(self):
        v, raw = self.r.cmd_raw("SET", self.k(), "value")
        self.assertEqual(raw, b"+OK\r\n")
        v, raw = self.r.cmd_raw("GET", self.k())
        self.assertEqual(raw, b"$5\r\nvalue\r\n")
        self.assertOK(self.r.cmd("SET", self.k(), "other"))
        self.assertEqual(self.r.cmd("GET", self.k()), b"other")

    def test_get_missing(self):
        self.assertEqual(self.r.cmd_raw("GET", self.k())[1], b"$-1\r\n")

    def test_set_binary_values_and_keys(self):
        val = bytes(range(256)) * 4 + b"\r\n\x00\r\n"
        key = self.k().encode() + b"\x00\r\n\xff key"
        self.assertOK(self.r.cmd("SET", key, val))
        self.assertEqual(self.r.cmd("GET", key), val)
        self.assertEqual(self.r.cmd("STRLEN", key), len(val))
        self.assertEqual(self.r.cmd("EXISTS", self.k()), 0)

    def test_empty_key_and_value(self):
        v = self.r.cmd("SET", "", "empty-key")
        if TARGET == "redis":
            self.assertOK(v)
            self.assertEqual(self.r.cmd("GET", ""), b"empty-key")
        else:
            self.assertIsInstance(v, Err)
            self.assertTrue(v.startswith("ERR"), v)
        self.assertOK(self.r.cmd("SET", self.k(), ""))
        self.assertEqual(self.r.cmd_raw("GET", self.k())[1], b"$0\r\n\r\n")
        self.assertEqual(self.r.cmd("EXISTS", self.k()), 1)
        self.assertEqual(self.r.cmd("STRLEN", self.k()), 0)

    def test_large_value_1mib(self):
        val = os.urandom(1 << 20)
        self.assertOK(self.r.cmd("SET", self.k(), val))
        self.assertEqual(self.r.cmd("STRLEN", self.k()), 1 << 20)
        self.assertEqual(self.r.cmd("GET", self.k()), val)
        val8 = os.urandom(8 << 20)
        self.assertOK(self.r.cmd("SET", self.k("8"), val8))
        self.assertEqual(self.r.cmd("GET", self.k("8")), val8)

    def test_set_nx_xx(self):
        k = self.k()
        self.assertEqual(self.r.cmd_raw("SET", k, "a", "XX")[1], b"$-1\r\n")
        self.assertEqual(self.r.cmd("EXISTS", k), 0)
        self.assertOK(self.r.cmd("SET", k, "a", "NX"))
        self.assertEqual(self.r.cmd_raw("SET", k, "b", "NX")[1], b"$-1\r\n")
        self.assertEqual(self.r.cmd("GET", k), b"a")
        self.assertOK(self.r.cmd("SET", k, "c", "XX"))
        self.assertEqual(self.r.cmd("GET", k), b"c")

    def test_set_options_case_insensitive_and_repeatable(self):
        k = self.k()
        self.assertOK(self.r.cmd("SET", k, "v", "ex", "100", "nx"))
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertOK(self.r.cmd("SET", k, "v", "XX", "XX"))
        self.assertOK(self.r.cmd("SET", k, "v", "EX", "10", "EX", "20"))
        self.assertBetween(self.r.cmd("TTL", k), 19, 20)
        self.assertOK(self.r.cmd("SET", k, "v", "KEEPTTL", "KEEPTTL"))

    def test_set_ex_px(self):
        k = self.k()
        self.assertOK(self.r.cmd("SET", k, "v", "EX", "100"))
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertBetween(self.r.cmd("PTTL", k), 98000, 100000)
        self.assertOK(self.r.cmd("SET", k, "v", "PX", "50000"))
        self.assertBetween(self.r.cmd("PTTL", k), 48000, 50000)
        self.assertBetween(self.r.cmd("TTL", k), 48, 50)

    def test_set_exat_pxat(self):
        k = self.k()
        now = time.time()
        self.assertOK(self.r.cmd("SET", k, "v", "EXAT", int(now) + 100))
        self.assertBetween(self.r.cmd("TTL", k), 98, 100)
        self.assertOK(self.r.cmd("SET", k, "v", "PXAT", int(now * 1000) + 50000))
        self.assertBetween(self.r.cmd("PTTL", k), 47000, 50000)

    def test_set_exat_in_the_past_deletes(self):
        k = self.k()
        self.assertOK(self.r.cmd("SET", k, "old"))
        self.assertOK(self.r.cmd("SET", k, "v", "EXAT", "1"))
        self.assertEqual(self.r.cmd("GET", k), None)
        self.assertEqual(self.r.cmd("EXISTS", k), 0)
        self.assertOK(self.r.cmd("SET", k, "v", "PXAT", "1"))
        self.assertEqual(self.r.cmd("EXISTS", k), 0)

    def test_set_px_expires(self):
        k = self.k()
        self.assertOK(self.r.cmd("SET", k, "v", "PX", "100"))
        self.assertEqual(self.r.cmd("GET", k), b"v")
        time.sleep(0.25)
        self.assertEqual(self.r.cmd("GET", k), None)
        self.assertEqual(self.r.cmd("EXISTS", k), 0)
        self.assertEqual(self.r.cmd("TTL", k), -2)
        self.assertEqual(self.r.cmd("KEYS", self.k("*")), [])

    def test_set_keepttl(self):
        k = self.k()
        self.assertOK(self.r.cmd("SET", k, "v", "EX", "100"))
        self.assertOK(self.r.cmd("SET", k, "v2", "KEEPTTL"))
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertEqual(self.r.cmd("GET", k), b"v2")
        # a plain SET drops the TTL
        self.assertOK(self.r.cmd("SET", k, "v3"))
        self.assertEqual(self.r.cmd("TTL", k), -1)
        # KEEPTTL on a key without TTL, or a new key
        self.assertOK(self.r.cmd("SET", self.k("new"), "v", "KEEPTTL"))
        self.assertEqual(self.r.cmd("TTL", self.k("new")), -1)

    def test_set_nx_failure_keeps_ttl(self):
        k = self.k()
        self.assertOK(self.r.cmd("SETEX", k, "100", "x"))
        self.assertEqual(self.r.cmd("SET", k, "y", "NX"), None)
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)

    def test_set_get_option(self):
        k = self.k()
        self.assertEqual(self.r.cmd_raw("SET", k, "v1", "GET")[1], b"$-1\r\n")
        self.assertEqual(self.r.cmd("GET", k), b"v1")
        self.assertEqual(self.r.cmd_raw("SET", k, "v2", "GET")[1],
                         b"$2\r\nv1\r\n")
        self.assertEqual(self.r.cmd("GET", k), b"v2")
        self.assertEqual(self.r.cmd("SET", k, "v3", "GET", "GET"), b"v2")

    def test_set_get_with_nx_xx(self):
        k = self.k()
        # Redis 7: NX and GET may be combined
        self.assertEqual(self.r.cmd("SET", k, "a", "NX", "GET"), None)
        self.assertEqual(self.r.cmd("GET", k), b"a")
        self.assertEqual(self.r.cmd("SET", k, "b", "NX", "GET"), b"a")
        self.assertEqual(self.r.cmd("GET", k), b"a")
        self.assertEqual(self.r.cmd("SET", k, "c", "XX", "GET"), b"a")
        self.assertEqual(self.r.cmd("GET", k), b"c")
        self.assertEqual(self.r.cmd("SET", self.k("n"), "d", "XX", "GET"), None)
        self.assertEqual(self.r.cmd("EXISTS", self.k("n")), 0)

    def test_set_get_keeps_or_drops_ttl(self):
        k = self.k()
        self.assertOK(self.r.cmd("SET", k, "v", "EX", "100"))
        self.assertEqual(self.r.cmd("SET", k, "w", "GET"), b"v")
        self.assertEqual(self.r.cmd("TTL", k), -1)
        self.assertEqual(self.r.cmd("SET", k, "x", "GET", "EX", "50"), b"w")
        self.assertBetween(self.r.cmd("TTL", k), 49, 50)

    def test_set_syntax_errors(self):
        k = self.k()
        for opts in (("NX", "XX"), ("XX", "NX"), ("EX", "10", "PX", "100"),
                     ("PX", "100", "EX", "10"), ("EX", "10", "EXAT", "99999999999"),
                     ("PXAT", "99999999999999", "EXAT", "99999999999"),
                     ("KEEPTTL", "EX", "10"), ("EX", "10", "KEEPTTL"),
                     ("PX", "10", "KEEPTTL"), ("EX",), ("PX",), ("EXAT",),
                     ("FOO",), ("NX", "FOO"), ("GET", "FOO")):
            with self.subTest(opts=opts):
                self.assertErr(self.r.cmd("SET", k, "v", *opts), E_SYNTAX)
        self.assertEqual(self.r.cmd("EXISTS", k), 0)

    def test_set_invalid_expire(self):
        k = self.k()
        for opts in (("EX", "0"), ("EX", "-1"), ("PX", "0"), ("PX", "-100"),
                     ("EXAT", "0"), ("PXAT", "0"), ("PXAT", "-5"),
                     ("EX", str(LLONG_MAX)), ("PX", str(LLONG_MAX)),
                     ("EXAT", str(LLONG_MAX))):
            with self.subTest(opts=opts):
                self.assertErr(self.r.cmd("SET", k, "v", *opts),
                               bad_expire("set"))
        self.assertEqual(self.r.cmd("EXISTS", k), 0)

    def test_set_expire_not_integer(self):
        k = self.k()
        for v in ("abc", "1.5", "", " 10", "10 ", "9223372036854775808"):
            with self.subTest(v=v):
                self.assertErr(self.r.cmd("SET", k, "v", "EX", v), E_NOTINT)
        self.assertErr(self.r.cmd("SET", k, "v", "PX", "1e3"), E_NOTINT)

    def test_setnx(self):
        k = self.k()
        self.assertEqual(self.r.cmd_raw("SETNX", k, "a")[1], b":1\r\n")
        self.assertEqual(self.r.cmd_raw("SETNX", k, "b")[1], b":0\r\n")
        self.assertEqual(self.r.cmd("GET", k), b"a")

    def test_setex(self):
        k = self.k()
        self.assertOK(self.r.cmd("SETEX", k, "100", "v"))
        self.assertEqual(self.r.cmd("GET", k), b"v")
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        for t in ("0", "-5", str(LLONG_MAX)):
            self.assertErr(self.r.cmd("SETEX", k, t, "v"), bad_expire("setex"))
        self.assertErr(self.r.cmd("SETEX", k, "abc", "v"), E_NOTINT)
        self.assertErr(self.r.cmd("SETEX", k, "1.5", "v"), E_NOTINT)

    def test_psetex(self):
        k = self.k()
        self.assertOK(self.r.cmd("PSETEX", k, "50000", "v"))
        self.assertEqual(self.r.cmd("GET", k), b"v")
        self.assertBetween(self.r.cmd("PTTL", k), 48000, 50000)
        for t in ("0", "-5", str(LLONG_MAX)):
            self.assertErr(self.r.cmd("PSETEX", k, t, "v"),
                           bad_expire("psetex"))
        self.assertErr(self.r.cmd("PSETEX", k, "x", "v"), E_NOTINT)

    def test_getdel(self):
        k = self.k()
        self.r.cmd("SET", k, "v", "EX", "100")
        self.assertEqual(self.r.cmd_raw("GETDEL", k)[1], b"$1\r\nv\r\n")
        self.assertEqual(self.r.cmd("EXISTS", k), 0)
        self.assertEqual(self.r.cmd_raw("GETDEL", k)[1], b"$-1\r\n")

    def test_getex_no_option(self):
        k = self.k()
        self.assertEqual(self.r.cmd("GETEX", k), None)
        self.r.cmd("SET", k, "v", "EX", "100")
        self.assertEqual(self.r.cmd("GETEX", k), b"v")
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)

    def test_getex_ex_px_exat_pxat(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        self.assertEqual(self.r.cmd("GETEX", k, "EX", "100"), b"v")
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertEqual(self.r.cmd("GETEX", k, "PX", "50000"), b"v")
        self.assertBetween(self.r.cmd("PTTL", k), 48000, 50000)
        now = time.time()
        self.assertEqual(self.r.cmd("GETEX", k, "EXAT", int(now) + 200), b"v")
        self.assertBetween(self.r.cmd("TTL", k), 198, 200)
        self.assertEqual(self.r.cmd("GETEX", k, "pxat", int(now * 1000) + 30000),
                         b"v")
        self.assertBetween(self.r.cmd("PTTL", k), 27000, 30000)

    def test_getex_persist(self):
        k = self.k()
        self.r.cmd("SET", k, "v", "EX", "100")
        self.assertEqual(self.r.cmd("GETEX", k, "PERSIST"), b"v")
        self.assertEqual(self.r.cmd("TTL", k), -1)
        self.assertEqual(self.r.cmd("GETEX", k, "PERSIST"), b"v")
        self.assertEqual(self.r.cmd("TTL", k), -1)

    def test_getex_exat_in_the_past_deletes(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        self.assertEqual(self.r.cmd("GETEX", k, "EXAT", "1"), b"v")
        self.assertEqual(self.r.cmd("EXISTS", k), 0)

    def test_getex_errors(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        for opts in (("EX", "10", "PX", "100"), ("PERSIST", "EX", "10"),
                     ("EX", "10", "PERSIST"), ("PX", "1", "PERSIST"),
                     ("FOO",), ("EX",)):
            with self.subTest(opts=opts):
                self.assertErr(self.r.cmd("GETEX", k, *opts), E_SYNTAX)
        for opts in (("EX", "0"), ("EX", "-1"), ("PX", "0"), ("EXAT", "0"),
                     ("PXAT", "0"), ("EX", str(LLONG_MAX))):
            with self.subTest(opts=opts):
                self.assertErr(self.r.cmd("GETEX", k, *opts),
                               bad_expire("getex"))
        self.assertErr(self.r.cmd("GETEX", k, "EX", "abc"), E_NOTINT)
        self.assertEqual(self.r.cmd("TTL", k), -1)
        self.assertErr(self.r.cmd("GETEX", self.k("none"), "FOO"), E_SYNTAX)

    def test_getex_missing_key(self):
        # on a missing key the expire time is not validated: nil
        self.assertEqual(self.r.cmd("GETEX", self.k(), "EX", "10"), None)
        self.assertEqual(self.r.cmd("GETEX", self.k(), "EX", "0"), None)
        self.assertEqual(self.r.cmd("EXISTS", self.k()), 0)

    def test_getrange(self):
        k = self.k()
        self.r.cmd("SET", k, "Hello World")
        cases = [(0, 4, b"Hello"), (0, -1, b"Hello World"),
                 (-5, -1, b"World"), (-3, -1, b"rld"), (6, 100, b"World"),
                 (-100, 4, b"Hello"), (-100, 100, b"Hello World"),
                 (5, 3, b""), (-1, -5, b""), (11, 20, b""), (10, 10, b"d"),
                 (0, 0, b"H"), (LLONG_MAX, LLONG_MAX, b""),
                 (LLONG_MIN, -1, b"Hello World")]
        for s, e, want in cases:
            with self.subTest(s=s, e=e):
                self.assertEqual(self.r.cmd("GETRANGE", k, s, e), want)

    def test_getrange_negative_end_clamps_to_zero(self):
        # Redis 7.0: an end index before the start of the string is clamped
        # to 0, so the first byte comes back (not an empty string)
        k = self.k()
        self.r.cmd("SET", k, "Hello")
        self.assertEqual(self.r.cmd("GETRANGE", k, "0", "-100"), b"H")
        self.assertEqual(self.r.cmd("GETRANGE", k, "-100", "-100"), b"H")

    def test_getrange_missing_and_errors(self):
        self.assertEqual(self.r.cmd_raw("GETRANGE", self.k(), "0", "-1")[1],
                         b"$0\r\n\r\n")
        self.r.cmd("SET", self.k(), "abc")
        self.assertErr(self.r.cmd("GETRANGE", self.k(), "a", "1"), E_NOTINT)
        self.assertErr(self.r.cmd("GETRANGE", self.k(), "0", "1.0"), E_NOTINT)

    def test_setrange(self):
        k = self.k()
        self.r.cmd("SET", k, "Hello World")
        self.assertEqual(self.r.cmd_raw("SETRANGE", k, "6", "Redis")[1],
                         b":11\r\n")
        self.assertEqual(self.r.cmd("GET", k), b"Hello Redis")
        self.assertEqual(self.r.cmd("SETRANGE", k, "11", "!!"), 13)
        self.assertEqual(self.r.cmd("GET", k), b"Hello Redis!!")
        self.assertEqual(self.r.cmd("SETRANGE", k, "0", b"\x00"), 13)
        self.assertEqual(self.r.cmd("GET", k), b"\x00ello Redis!!")

    def test_setrange_pads_with_zero_bytes(self):
        k = self.k()
        self.assertEqual(self.r.cmd("SETRANGE", k, "3", "ab"), 5)
        self.assertEqual(self.r.cmd("GET", k), b"\x00\x00\x00ab")
        self.r.cmd("SET", self.k("2"), "xy")
        self.assertEqual(self.r.cmd("SETRANGE", self.k("2"), "5", "z"), 6)
        self.assertEqual(self.r.cmd("GET", self.k("2")), b"xy\x00\x00\x00z")

    def test_setrange_empty_value(self):
        k = self.k()
        # missing key + empty value: nothing is created
        self.assertEqual(self.r.cmd("SETRANGE", k, "5", ""), 0)
        self.assertEqual(self.r.cmd("EXISTS", k), 0)
        self.assertEqual(self.r.cmd("SETRANGE", k, "536870911", ""), 0)
        self.assertEqual(self.r.cmd("EXISTS", k), 0)
        # existing key + empty value: length, unchanged, even past the limit
        self.r.cmd("SET", k, "ab")
        self.assertEqual(self.r.cmd("SETRANGE", k, "10", ""), 2)
        self.assertEqual(self.r.cmd("SETRANGE", k, "536870912", ""), 2)
        self.assertEqual(self.r.cmd("GET", k), b"ab")

    def test_setrange_errors(self):
        k = self.k()
        self.assertErr(self.r.cmd("SETRANGE", k, "-1", "x"),
                       "ERR offset is out of range")
        self.assertErr(self.r.cmd("SETRANGE", k, "-1", ""),
                       "ERR offset is out of range")
        too_big = ("ERR string exceeds maximum allowed size "
                   "(proto-max-bulk-len)")
        self.assertErr(self.r.cmd("SETRANGE", k, "536870912", "x"), too_big)
        self.assertErr(self.r.cmd("SETRANGE", k, "536870910", "xyz"), too_big)
        self.assertErr(self.r.cmd("SETRANGE", k, "abc", "x"), E_NOTINT)
        self.assertEqual(self.r.cmd("EXISTS", k), 0)
        self.r.cmd("SET", k, "v")
        self.assertErr(self.r.cmd("SETRANGE", k, "-1", "x"),
                       "ERR offset is out of range")
        self.assertErr(self.r.cmd("SETRANGE", k, str(1 << 40), "x"), too_big)
        self.assertEqual(self.r.cmd("GET", k), b"v")

    def test_setrange_offset_near_int64_max(self):
        # offset + length must not wrap around the size check
        k = self.k()
        too_big = ("ERR string exceeds maximum allowed size "
                   "(proto-max-bulk-len)")
        for key_there in (False, True):
            if key_there:
                self.r.cmd("SET", k, "v")
            self.assertErr(self.r.cmd("SETRANGE", k, str((1 << 63) - 1), "x"),
                           too_big)
            self.assertErr(self.r.cmd("SETRANGE", k, str((1 << 63) - 2), "xy"),
                           too_big)
        self.assertEqual(self.r.cmd("GET", k), b"v")
        self.assertWorks()

    def test_append(self):
        k = self.k()
        self.assertEqual(self.r.cmd_raw("APPEND", k, "Hello")[1], b":5\r\n")
        self.assertEqual(self.r.cmd("APPEND", k, " World"), 11)
        self.assertEqual(self.r.cmd("GET", k), b"Hello World")
        self.assertEqual(self.r.cmd("APPEND", k, ""), 11)
        self.assertEqual(self.r.cmd("APPEND", k, b"\x00\r\n"), 14)
        self.assertEqual(self.r.cmd("GET", k), b"Hello World\x00\r\n")
        self.assertEqual(self.r.cmd("APPEND", self.k("e"), ""), 0)
        self.assertEqual(self.r.cmd("EXISTS", self.k("e")), 1)

    def test_append_setrange_incr_keep_ttl(self):
        k = self.k()
        self.r.cmd("SET", k, "1", "EX", "100")
        self.assertEqual(self.r.cmd("INCR", k), 2)
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertEqual(self.r.cmd("APPEND", k, "0"), 2)
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertEqual(self.r.cmd("SETRANGE", k, "0", "5"), 2)
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertEqual(self.r.cmd("GET", k), b"50")

    def test_strlen(self):
        self.assertEqual(self.r.cmd_raw("STRLEN", self.k())[1], b":0\r\n")
        self.r.cmd("SET", self.k(), b"\x00\x01\x02")
        self.assertEqual(self.r.cmd("STRLEN", self.k()), 3)
        self.r.cmd("SET", self.k(), "12345")
        self.r.cmd("INCR", self.k())
        self.assertEqual(self.r.cmd("STRLEN", self.k()), 5)

    def test_mget(self):
        a, b = self.k("a"), self.k("b")
        self.r.cmd("SET", a, "1")
        self.r.cmd("SET", b, "")
        v, raw = self.r.cmd_raw("MGET", a, self.k("none"), b, a)
        self.assertEqual(raw, b"*4\r\n$1\r\n1\r\n$-1\r\n$0\r\n\r\n$1\r\n1\r\n")
        self.assertEqual(self.r.cmd("MGET", self.k("x")), [None])

    def test_mset(self):
        a, b = self.k("a"), self.k("b")
        self.assertEqual(self.r.cmd_raw("MSET", a, "1", b, "2")[1], b"+OK\r\n")
        self.assertEqual(self.r.cmd("MGET", a, b), [b"1", b"2"])
        self.assertOK(self.r.cmd("MSET", a, "x", a, "y"))
        self.assertEqual(self.r.cmd("GET", a), b"y")
        self.r.cmd("EXPIRE", b, "100")
        self.assertOK(self.r.cmd("MSET", b, "3"))
        self.assertEqual(self.r.cmd("TTL", b), -1)
        self.assertErr(self.r.cmd("MSET", a, "1", b), arity("mset"))
        self.assertEqual(self.r.cmd("GET", a), b"y")

    def test_msetnx(self):
        a, b, c = self.k("a"), self.k("b"), self.k("c")
        self.assertEqual(self.r.cmd_raw("MSETNX", a, "1", b, "2")[1], b":1\r\n")
        self.assertEqual(self.r.cmd_raw("MSETNX", b, "x", c, "3")[1], b":0\r\n")
        self.assertEqual(self.r.cmd("MGET", a, b, c), [b"1", b"2", None])
        self.assertEqual(self.r.cmd("MSETNX", c, "1", c, "2"), 1)
        self.assertEqual(self.r.cmd("GET", c), b"2")
        self.assertErr(self.r.cmd("MSETNX", c, "1", a), arity("msetnx"))

    def test_del(self):
        a, b = self.k("a"), self.k("b")
        self.r.cmd("MSET", a, "1", b, "2")
        self.assertEqual(self.r.cmd_raw("DEL", a, a, self.k("none"))[1],
                         b":1\r\n")
        self.assertEqual(self.r.cmd("DEL", a, b), 1)
        self.assertEqual(self.r.cmd("DEL", a), 0)
        self.assertEqual(self.r.cmd("DBSIZE"), 0)

    def test_unlink(self):
        a, b = self.k("a"), self.k("b")
        self.r.cmd("MSET", a, "1", b, "2")
        self.assertEqual(self.r.cmd_raw("UNLINK", a, b, b, self.k("n"))[1],
                         b":2\r\n")
        self.assertEqual(self.r.cmd("EXISTS", a, b), 0)
        self.assertEqual(self.r.cmd("UNLINK", a), 0)

    def test_exists_counts_duplicates(self):
        a, b = self.k("a"), self.k("b")
        self.r.cmd("MSET", a, "1", b, "2")
        self.assertEqual(self.r.cmd_raw("EXISTS", a)[1], b":1\r\n")
        self.assertEqual(self.r.cmd("EXISTS", a, a, a), 3)
        self.assertEqual(self.r.cmd("EXISTS", a, b, self.k("n"), b), 3)
        self.assertEqual(self.r.cmd("EXISTS", self.k("n"), self.k("n")), 0)


class Counters(Base):
    def test_incr_decr(self):
        k = self.k()
        self.assertEqual(self.r.cmd_raw("INCR", k)[1], b":1\r\n")
        self.assertEqual(self.r.cmd("INCR", k), 2)
        self.assertEqual(self.r.cmd_raw("GET", k)[1], b"$1\r\n2\r\n")
        self.assertEqual(self.r.cmd("DECR", k), 1)
        self.assertEqual(self.r.cmd("DECR", k), 0)
        self.assertEqual(self.r.cmd("DECR", k), -1)
        self.assertEqual(self.r.cmd("GET", k), b"-1")
        self.assertEqual(self.r.cmd("DECR", self.k("n")), -1)

    def test_incrby_decrby(self):
        k = self.k()
        self.assertEqual(self.r.cmd("INCRBY", k, "10"), 10)
        self.assertEqual(self.r.cmd("INCRBY", k, "-15"), -5)
        self.assertEqual(self.r.cmd("DECRBY", k, "5"), -10)
        self.assertEqual(self.r.cmd("DECRBY", k, "-30"), 20)
        self.assertEqual(self.r.cmd("INCRBY", k, "0"), 20)
        self.assertEqual(self.r.cmd("GET", k), b"20")
        self.assertEqual(self.r.cmd("DECRBY", self.k("n"), "5"), -5)

    def test_incr_on_set_values(self):
        k = self.k()
        for start, want in (("0", 1), ("-1", 0), ("41", 42),
                            ("-9223372036854775808", LLONG_MIN + 1),
                            ("9223372036854775806", LLONG_MAX)):
            self.r.cmd("SET", k, start)
            self.assertEqual(self.r.cmd("INCR", k), want)
            self.assertEqual(self.r.cmd("GET", k), str(want).encode())

    def test_incr_overflow(self):
        k = self.k()
        self.r.cmd("SET", k, str(LLONG_MAX))
        self.assertErr(self.r.cmd("INCR", k), E_OVERFLOW)
        self.assertErr(self.r.cmd("INCRBY", k, "1"), E_OVERFLOW)
        self.assertEqual(self.r.cmd("GET", k), str(LLONG_MAX).encode())
        self.r.cmd("SET", k, str(LLONG_MIN))
        self.assertErr(self.r.cmd("DECR", k), E_OVERFLOW)
        self.assertErr(self.r.cmd("DECRBY", k, "1"), E_OVERFLOW)
        self.assertErr(self.r.cmd("INCRBY", k, "-1"), E_OVERFLOW)
        self.r.cmd("SET", k, "5")
        self.assertErr(self.r.cmd("INCRBY", k, str(LLONG_MAX)), E_OVERFLOW)
        self.assertEqual(self.r.cmd("DECRBY", k, str(LLONG_MAX)),
                         5 - LLONG_MAX)
        self.assertEqual(self.r.cmd("GET", k), str(5 - LLONG_MAX).encode())

    def test_decrby_llong_min(self):
        # DECRBY cannot negate LLONG_MIN: its own, shorter, error text
        k = self.k()
        self.r.cmd("SET", k, "0")
        self.assertErr(self.r.cmd("DECRBY", k, str(LLONG_MIN)),
                       "ERR decrement would overflow")
        self.assertErr(self.r.cmd("DECRBY", self.k("n"), str(LLONG_MIN)),
                       "ERR decrement would overflow")
        self.assertEqual(self.r.cmd("EXISTS", self.k("n")), 0)
        self.assertEqual(self.r.cmd("INCRBY", k, str(LLONG_MIN)), LLONG_MIN)

    def test_incr_non_integer_value(self):
        k = self.k()
        for bad in (" 1", "1 ", "+1", "01", "-0", "0x1", "1e3", "", "1.5",
                    "abc", "1 2", "9223372036854775808",
                    "-9223372036854775809", "12345678901234567890123",
                    "\x001"):
            with self.subTest(bad=bad):
                self.r.cmd("SET", k, bad)
                for c in (("INCR", k), ("DECR", k), ("INCRBY", k, "1"),
                          ("DECRBY", k, "1")):
                    self.assertErr(self.r.cmd(*c), E_NOTINT)
                self.assertEqual(self.r.cmd("GET", k), bad.encode())

    def test_incrby_non_integer_argument(self):
        k = self.k()
        self.r.cmd("SET", k, "5")
        for bad in (" 1", "1 ", "+1", "01", "-0", "1.5", "", "abc",
                    "9223372036854775808", "0x10"):
            with self.subTest(bad=bad):
                self.assertErr(self.r.cmd("INCRBY", k, bad), E_NOTINT)
                self.assertErr(self.r.cmd("DECRBY", k, bad), E_NOTINT)
        self.assertEqual(self.r.cmd("GET", k), b"5")


class Expiry(Base):
    def test_ttl_pttl_missing_and_persistent(self):
        self.assertEqual(self.r.cmd_raw("TTL", self.k())[1], b":-2\r\n")
        self.assertEqual(self.r.cmd_raw("PTTL", self.k())[1], b":-2\r\n")
        self.r.cmd("SET", self.k(), "v")
        self.assertEqual(self.r.cmd_raw("TTL", self.k())[1], b":-1\r\n")
        self.assertEqual(self.r.cmd_raw("PTTL", self.k())[1], b":-1\r\n")

    def test_expire_ttl(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        self.assertEqual(self.r.cmd_raw("EXPIRE", k, "100")[1], b":1\r\n")
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertBetween(self.r.cmd("PTTL", k), 98000, 100000)
        self.assertEqual(self.r.cmd_raw("EXPIRE", self.k("n"), "100")[1],
                         b":0\r\n")
        self.assertEqual(self.r.cmd("EXISTS", self.k("n")), 0)

    def test_pexpire(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        self.assertEqual(self.r.cmd("PEXPIRE", k, "1500"), 1)
        self.assertBetween(self.r.cmd("PTTL", k), 1000, 1500)
        self.assertEqual(self.r.cmd("PEXPIRE", self.k("n"), "100"), 0)

    def test_pexpire_ttl_rounding(self):
        k = self.k()
        self.r.cmd("SET", k, "v", "PX", "100000")
        # TTL rounds to the nearest second
        self.assertEqual(self.r.cmd("PEXPIRE", k, "2900"), 1)
        self.assertEqual(self.r.cmd("TTL", k), 3)
        self.assertEqual(self.r.cmd("PEXPIRE", k, "2400"), 1)
        self.assertEqual(self.r.cmd("TTL", k), 2)

    def test_expireat_pexpireat(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        now = time.time()
        self.assertEqual(self.r.cmd("EXPIREAT", k, int(now) + 100), 1)
        self.assertBetween(self.r.cmd("TTL", k), 98, 100)
        self.assertEqual(self.r.cmd("PEXPIREAT", k, int(now * 1000) + 50000), 1)
        self.assertBetween(self.r.cmd("PTTL", k), 47000, 50000)
        self.assertEqual(self.r.cmd("EXPIREAT", self.k("n"), int(now) + 100), 0)
        # the NX/XX/GT/LT options work the same on the absolute forms
        self.assertEqual(self.r.cmd("EXPIREAT", k, int(now) + 200, "NX"), 0)
        self.assertEqual(self.r.cmd("EXPIREAT", k, int(now) + 20, "GT"), 0)
        self.assertEqual(self.r.cmd("EXPIREAT", k, int(now) + 200, "GT"), 1)
        self.assertBetween(self.r.cmd("TTL", k), 198, 200)
        self.assertEqual(self.r.cmd("PEXPIREAT", k, int(now * 1000) + 300000,
                                    "LT"), 0)
        self.assertEqual(self.r.cmd("PEXPIREAT", k, int(now * 1000) + 100000,
                                    "XX"), 1)
        self.assertBetween(self.r.cmd("TTL", k), 98, 100)
        self.assertErr(self.r.cmd("EXPIREAT", k, int(now) + 100, "GT", "LT"),
                       "ERR GT and LT options at the same time are not "
                       "compatible")
        self.assertEqual(self.r.cmd("PEXPIREAT", self.k("n"), "1"), 0)

    def test_expire_in_the_past_deletes(self):
        for i, c in enumerate((("EXPIRE", "-1"), ("EXPIRE", "0"),
                               ("PEXPIRE", "-1"), ("PEXPIRE", "0"),
                               ("EXPIREAT", "1"), ("PEXPIREAT", "1"))):
            k = self.k(str(i))
            self.r.cmd("SET", k, "v")
            with self.subTest(c=c):
                self.assertEqual(self.r.cmd(c[0], k, c[1]), 1)
                self.assertEqual(self.r.cmd("EXISTS", k), 0)
                self.assertEqual(self.r.cmd("TTL", k), -2)

    def test_expire_nx_xx(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        self.assertEqual(self.r.cmd("EXPIRE", k, "100", "XX"), 0)
        self.assertEqual(self.r.cmd("TTL", k), -1)
        self.assertEqual(self.r.cmd("EXPIRE", k, "100", "NX"), 1)
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertEqual(self.r.cmd("EXPIRE", k, "200", "NX"), 0)
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertEqual(self.r.cmd("EXPIRE", k, "200", "xx"), 1)
        self.assertBetween(self.r.cmd("TTL", k), 199, 200)
        self.assertEqual(self.r.cmd("EXPIRE", k, "100", "NX", "NX"), 0)
        self.assertEqual(self.r.cmd("EXPIRE", self.k("n"), "100", "NX"), 0)

    def test_expire_gt_lt(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        # a key without TTL counts as an infinite TTL
        self.assertEqual(self.r.cmd("EXPIRE", k, "100", "GT"), 0)
        self.assertEqual(self.r.cmd("TTL", k), -1)
        self.assertEqual(self.r.cmd("EXPIRE", k, "100", "LT"), 1)
        self.assertBetween(self.r.cmd("TTL", k), 99, 100)
        self.assertEqual(self.r.cmd("EXPIRE", k, "200", "LT"), 0)
        self.assertEqual(self.r.cmd("EXPIRE", k, "200", "GT"), 1)
        self.assertBetween(self.r.cmd("TTL", k), 199, 200)
        self.assertEqual(self.r.cmd("EXPIRE", k, "50", "GT"), 0)
        self.assertEqual(self.r.cmd("EXPIRE", k, "50", "lt"), 1)
        self.assertBetween(self.r.cmd("TTL", k), 49, 50)
        self.assertEqual(self.r.cmd("PEXPIRE", k, "60000", "GT"), 1)
        self.assertEqual(self.r.cmd("PEXPIRE", k, "60000", "XX", "LT"), 0)
        self.assertEqual(self.r.cmd("EXPIRE", k, "300", "XX", "GT"), 1)
        self.assertBetween(self.r.cmd("TTL", k), 299, 300)

    def test_expire_option_errors(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        nx_with = ("ERR NX and XX, GT or LT options at the same time are not "
                   "compatible")
        for opts in (("NX", "XX"), ("NX", "GT"), ("LT", "NX"), ("XX", "NX")):
            with self.subTest(opts=opts):
                self.assertErr(self.r.cmd("EXPIRE", k, "10", *opts), nx_with)
        self.assertErr(self.r.cmd("EXPIRE", k, "10", "GT", "LT"),
                       "ERR GT and LT options at the same time are not "
                       "compatible")
        self.assertErr(self.r.cmd("EXPIRE", k, "10", "FOO"),
                       "ERR Unsupported option FOO")
        self.assertErr(self.r.cmd("PEXPIRE", k, "10", "bar"),
                       "ERR Unsupported option bar")
        self.assertErr(self.r.cmd("EXPIRE", k, "abc"), E_NOTINT)
        self.assertErr(self.r.cmd("EXPIRE", k, "1.5"), E_NOTINT)
        self.assertEqual(self.r.cmd("TTL", k), -1)

    def test_expire_invalid_time(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        for c in ("expire", "pexpire", "expireat"):
            with self.subTest(c=c):
                self.assertErr(self.r.cmd(c.upper(), k, str(LLONG_MAX)),
                               bad_expire(c))
        self.assertErr(self.r.cmd("EXPIRE", self.k("n"), str(LLONG_MAX)),
                       bad_expire("expire"))
        self.assertEqual(self.r.cmd("TTL", k), -1)

    def test_persist(self):
        k = self.k()
        self.r.cmd("SET", k, "v", "EX", "100")
        self.assertEqual(self.r.cmd_raw("PERSIST", k)[1], b":1\r\n")
        self.assertEqual(self.r.cmd("TTL", k), -1)
        self.assertEqual(self.r.cmd_raw("PERSIST", k)[1], b":0\r\n")
        self.assertEqual(self.r.cmd("PERSIST", self.k("n")), 0)
        self.assertEqual(self.r.cmd("GET", k), b"v")

    def test_expired_key_is_gone(self):
        k = self.k()
        self.r.cmd("SET", k, "v")
        self.assertEqual(self.r.cmd("PEXPIRE", k, "100"), 1)
        time.sleep(0.25)
        self.assertEqual(self.r.cmd("TTL", k), -2)
        self.assertEqual(self.r.cmd("GET", k), None)
        self.assertEqual(self.r.cmd("SETNX", k, "new"), 1)
        self.assertEqual(self.r.cmd("TTL", k), -1)


class Keys(Base):
    NAMES = ["a", "b", "c", "d", "ab", "abc", "hello", "hallo", "hxllo",
             "hllo", "heeello", "h*llo", "h?llo", "h[a]llo", "x\\y", "-",
             "[", "]", "a-b"]

    def setup_names(self):
        self.assertOK(self.r.cmd("MSET", *[x for n in self.NAMES
                                           for x in (self.k(n), "1")]))

    def keys(self, pattern):
        v = self.r.cmd("KEYS", self.k(pattern))
        self.assertIsInstance(v, list)
        self.assertEqual(len(v), len(set(v)), "KEYS returned duplicates")
        return sorted(x[len(self.pfx):].decode() for x in v)

    def test_keys_star_and_empty(self):
        self.assertEqual(self.r.cmd_raw("KEYS", "*")[1], b"*0\r\n")
        self.setup_names()
        self.assertEqual(self.keys("*"), sorted(self.NAMES))
        self.assertEqual(len(self.r.cmd("KEYS", "*")), len(self.NAMES))

    def test_keys_question_mark(self):
        self.setup_names()
        self.assertEqual(self.keys("?"), sorted(["a", "b", "c", "d", "-", "[",
                                                 "]"]))
        self.assertEqual(self.keys("h?llo"), sorted(
            ["hello", "hallo", "hxllo", "h*llo", "h?llo"]))
        self.assertEqual(self.keys("??"), ["ab"])

    def test_keys_star_inside(self):
        self.setup_names()
        self.assertEqual(self.keys("h*llo"), sorted(
            ["hello", "hallo", "hxllo", "hllo", "heeello", "h*llo", "h?llo",
             "h[a]llo"]))
        self.assertEqual(self.keys("a*"), sorted(["a", "ab", "abc", "a-b"]))
        self.assertEqual(self.keys("*b*"), sorted(["b", "ab", "abc", "a-b"]))

    def test_keys_classes(self):
        self.setup_names()
        self.assertEqual(self.keys("h[ae]llo"), ["hallo", "hello"])
        self.assertEqual(self.keys("[a-c]"), ["a", "b", "c"])
        self.assertEqual(self.keys("h[a-b]llo"), ["hallo"])
        self.assertEqual(self.keys("h[^e]llo"), sorted(
            ["hallo", "hxllo", "h*llo", "h?llo"]))
        self.assertEqual(self.keys("[^a]"), sorted(["b", "c", "d", "-", "[",
                                                    "]"]))
        # a reversed range is taken as the same range
        self.assertEqual(self.keys("[c-a]"), ["a", "b", "c"])

    def test_keys_escapes(self):
        self.setup_names()
        self.assertEqual(self.keys("h\\*llo"), ["h*llo"])
        self.assertEqual(self.keys("h\\?llo"), ["h?llo"])
        self.assertEqual(self.keys("h\\[a\\]llo"), ["h[a]llo"])
        self.assertEqual(self.keys("x\\\\y"), ["x\\y"])
        self.assertEqual(self.keys("\\["), ["["])
        self.assertEqual(self.keys("[\\]]"), ["]"])
        self.assertEqual(self.keys("\\a"), ["a"])

    def test_keys_no_match(self):
        self.setup_names()
        self.assertEqual(self.keys("zzz*"), [])
        self.assertEqual(self.keys("hello?"), [])


class Scan(Base):
    def scan_all(self, *opts):
        seen = []
        cursor = b"0"
        calls = 0
        while True:
            v = self.r.cmd("SCAN", cursor, *opts)
            calls += 1
            self.assertIsInstance(v, list)
            self.assertEqual(len(v), 2)
            cursor, keys = v
            self.assertIsInstance(cursor, bytes)
            self.assertTrue(cursor.isdigit(), cursor)
            self.assertIsInstance(keys, list)
            seen.extend(keys)
            if cursor == b"0":
                return seen, calls
            self.assertLess(calls, 10000, "SCAN does not terminate")

    def test_scan_empty(self):
        self.assertEqual(self.r.cmd_raw("SCAN", "0")[1],
                         b"*2\r\n$1\r\n0\r\n*0\r\n")

    def test_scan_all_keys(self):
        want = {self.k(str(i)).encode() for i in range(300)}
        for i in range(0, 300, 100):
            self.r.cmd("MSET", *[x for j in range(i, i + 100)
                                 for x in (self.k(str(j)), "v")])
        for opts in ((), ("COUNT", "7"), ("COUNT", "1000"), ("count", "1")):
            with self.subTest(opts=opts):
                seen, _ = self.scan_all(*opts)
                self.assertEqual(set(seen), want)

    def test_scan_match(self):
        jobs = {self.k("job:%d" % i).encode() for i in range(150)}
        for i in range(150):
            self.r.cmd("SET", self.k("job:%d" % i), "v")
            self.r.cmd("SET", self.k("other:%d" % i), "v")
        for opts in (("MATCH", self.k("job:*")),
                     ("MATCH", self.k("job:*"), "COUNT", "10"),
                     ("COUNT", "25", "match", self.k("job:*"))):
            with self.subTest(opts=opts):
                seen, _ = self.scan_all(*opts)
                self.assertEqual(set(seen), jobs)
        seen, _ = self.scan_all("MATCH", self.k("job:1?"))
        self.assertEqual(set(seen), {self.k("job:%d" % i).encode()
                                     for i in range(10, 20)})
        seen, _ = self.scan_all("MATCH", "nomatch*")
        self.assertEqual(seen, [])

    def test_scan_type(self):
        self.r.cmd("SET", self.k("s"), "v")
        want = [self.k("s").encode()]
        for opts in (("TYPE", "string"), ("type", "STRING", "COUNT", "100")):
            with self.subTest(opts=opts):
                self.assertEqual(self.scan_all(*opts)[0], want)
        # no other type exists, whatever options follow TYPE
        for opts in (("TYPE", "hash"), ("TYPE", "hash", "COUNT", "100"),
                     ("COUNT", "100", "TYPE", "list"),
                     ("TYPE", "zset", "MATCH", "*")):
            with self.subTest(opts=opts):
                self.assertEqual(self.scan_all(*opts)[0], [])

    def test_scan_long_pattern(self):
        # a literal longer than any key matches nothing: no error
        self.r.cmd("SET", self.k("a"), "v")
        for pat in ("a" * 1025, "a" * 2000 + "*", self.k("a") * 100):
            with self.subTest(pat=len(pat)):
                self.assertEqual(self.r.cmd("SCAN", "0", "MATCH", pat),
                                 [b"0", []])
                self.assertEqual(self.r.cmd("KEYS", pat), [])

    def test_scan_skips_expired(self):
        self.r.cmd("SET", self.k("live"), "v")
        self.r.cmd("SET", self.k("dead"), "v", "PX", "50")
        time.sleep(0.15)
        seen, _ = self.scan_all()
        self.assertEqual(set(seen), {self.k("live").encode()})

    def test_scan_errors(self):
        self.assertErr(self.r.cmd("SCAN", "abc"), "ERR invalid cursor")
        self.assertErr(self.r.cmd("SCAN", "18446744073709551616"),
                       "ERR invalid cursor")
        self.assertErr(self.r.cmd("SCAN", "0", "COUNT", "0"), E_SYNTAX)
        self.assertErr(self.r.cmd("SCAN", "0", "COUNT", "-1"), E_SYNTAX)
        self.assertErr(self.r.cmd("SCAN", "0", "COUNT", "abc"), E_NOTINT)
        self.assertErr(self.r.cmd("SCAN", "0", "FOO"), E_SYNTAX)
        self.assertErr(self.r.cmd("SCAN", "0", "MATCH"), E_SYNTAX)
        self.assertErr(self.r.cmd("SCAN", "0", "COUNT"), E_SYNTAX)


class PubSub(Base):
    def sub(self):
        p = self.py().pubsub()
        self._clients.append(p)
        return p

    def collect(self, p, n, timeout=2.0):
        out = []
        end = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < end:
            m = p.get_message(timeout=max(0.01, end - time.monotonic()))
            if m is not None:
                out.append(m)
        return out

    def test_keyspace_set_del(self):
        k = self.k("ks")
        ch = ("__keyspace@0__:" + k).encode()
        p = self.sub()
        p.subscribe(ch)
        self.assertEqual(p.get_message(timeout=2), {
            "type": "subscribe", "pattern": None, "channel": ch, "data": 1})
        self.r.cmd("SET", k, "v")
        self.r.cmd("SET", self.k("other"), "v")
        self.r.cmd("DEL", k)
        msgs = self.collect(p, 2)
        self.assertEqual(msgs, [
            {"type": "message", "pattern": None, "channel": ch, "data": b"set"},
            {"type": "message", "pattern": None, "channel": ch, "data": b"del"},
        ])
        self.assertEqual(self.collect(p, 1, timeout=0.2), [])

    def test_keyspace_expired(self):
        k = self.k("ex")
        ch = ("__keyspace@0__:" + k).encode()
        p = self.sub()
        p.subscribe(ch)
        self.assertEqual(p.get_message(timeout=2)["type"], "subscribe")
        t0 = time.monotonic()
        self.r.cmd("SET", k, "v", "PX", "200")
        msgs = self.collect(p, 3, timeout=2.5)
        took = time.monotonic() - t0
        self.assertEqual([m["data"] for m in msgs],
                         [b"set", b"expire", b"expired"])
        self.assertTrue(all(m["type"] == "message" and m["channel"] == ch
                            for m in msgs), msgs)
        self.assertGreaterEqual(took, 0.19)
        self.assertEqual(self.r.cmd("EXISTS", k), 0)

    def test_keyspace_other_events(self):
        k = self.k("ev")
        ch = ("__keyspace@0__:" + k).encode()
        p = self.sub()
        p.subscribe(ch)
        self.assertEqual(p.get_message(timeout=2)["type"], "subscribe")
        self.r.cmd("SET", k, "1")
        self.r.cmd("EXPIRE", k, "100")
        self.r.cmd("INCR", k)
        self.r.cmd("APPEND", k, "0")
        self.r.cmd("PERSIST", k)
        self.r.cmd("GETDEL", k)
        msgs = self.collect(p, 6)
        self.assertEqual([m["data"] for m in msgs],
                         [b"set", b"expire", b"incrby", b"append", b"persist",
                          b"del"])

    def test_psubscribe_keyspace_pattern(self):
        pat = b"__keyspace@0__:job:*"
        tag = self.pfx.replace(":", "_")
        p = self.sub()
        p.psubscribe(pat)
        self.assertEqual(p.get_message(timeout=2), {
            "type": "psubscribe", "pattern": None, "channel": pat, "data": 1})
        self.r.cmd("SET", "job:%s:1" % tag, "v")
        self.r.cmd("SET", "nojob:%s:1" % tag, "v")
        self.r.cmd("SET", "job:%s:2" % tag, "v")
        self.r.cmd("DEL", "job:%s:1" % tag)
        msgs = self.collect(p, 3)
        c1 = ("__keyspace@0__:job:%s:1" % tag).encode()
        c2 = ("__keyspace@0__:job:%s:2" % tag).encode()
        self.assertEqual(msgs, [
            {"type": "pmessage", "pattern": pat, "channel": c1, "data": b"set"},
            {"type": "pmessage", "pattern": pat, "channel": c2, "data": b"set"},
            {"type": "pmessage", "pattern": pat, "channel": c1, "data": b"del"},
        ])
        p.punsubscribe(pat)
        self.assertEqual(p.get_message(timeout=2), {
            "type": "punsubscribe", "pattern": None, "channel": pat,
            "data": 0})

    def test_keyevent_notifications(self):
        k = self.k("kev")
        ch = b"__keyevent@0__:del"
        p = self.sub()
        p.subscribe(ch)
        self.assertEqual(p.get_message(timeout=2)["type"], "subscribe")
        self.r.cmd("SET", k, "v")
        self.r.cmd("DEL", k)
        msgs = self.collect(p, 1)
        self.assertEqual(msgs, [{"type": "message", "pattern": None,
                                 "channel": ch, "data": k.encode()}])

    def test_subscribe_unsubscribe_counts(self):
        p = self.sub()
        a = ("__keyspace@0__:" + self.k("a")).encode()
        b = ("__keyspace@0__:" + self.k("b")).encode()
        p.subscribe(a, b)
        got = self.collect(p, 2)
        self.assertEqual(sorted((m["channel"], m["data"]) for m in got),
                         [(a, 1), (b, 2)])
        self.assertTrue(all(m["type"] == "subscribe" for m in got))
        p.psubscribe("__keyspace@0__:" + self.k("*"))
        self.assertEqual(p.get_message(timeout=2)["data"], 3)
        p.unsubscribe(a)
        self.assertEqual(p.get_message(timeout=2), {
            "type": "unsubscribe", "pattern": None, "channel": a, "data": 2})
        self.r.cmd("SET", self.k("b"), "v")
        msgs = self.collect(p, 2)
        self.assertEqual(sorted(m["type"] for m in msgs),
                         ["message", "pmessage"])

    def test_raw_subscribe_mode(self):
        c = self.conn()
        v, raw = c.cmd_raw("SUBSCRIBE", "chan-a-" + self.pfx)
        ch = ("chan-a-" + self.pfx).encode()
        self.assertEqual(raw, b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n"
                         % (len(ch), ch))
        self.assertEqual(c.cmd_raw("PING")[1],
                         b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        self.assertEqual(c.cmd("PING", "x"), [b"pong", b"x"])
        only = ("only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                "are allowed in this context")
        self.assertErr(c.cmd("GET", "x"), "ERR Can't execute 'get': " + only)
        self.assertErr(c.cmd("SET", "x", "1"),
                       "ERR Can't execute 'set': " + only)
        v, raw = c.cmd_raw("UNSUBSCRIBE")
        self.assertEqual(raw, b"*3\r\n$11\r\nunsubscribe\r\n$%d\r\n%s\r\n:0\r\n"
                         % (len(ch), ch))
        self.assertEqual(c.cmd_raw("GET", self.k())[1], b"$-1\r\n")

    def test_pipelined_after_subscribe(self):
        # Commands after SUBSCRIBE in one pipeline are refused even while
        # SUBSCRIBE waits for an earlier write; the arity check comes first.
        c = self.conn()
        k, ch = self.k(), "chan-p-" + self.pfx
        only = ("only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                "are allowed in this context")
        c.send(encode("SET", k, "v") + encode("SUBSCRIBE", ch) +
               encode("GET", k) + encode("GET") + encode("UNSUBSCRIBE") +
               encode("GET", k))
        self.assertOK(c.read())
        self.assertEqual(c.read(), [b"subscribe", ch.encode(), 1])
        self.assertErr(c.read(), "ERR Can't execute 'get': " + only)
        self.assertErr(c.read(), arity("get"))
        self.assertEqual(c.read(), [b"unsubscribe", ch.encode(), 0])
        self.assertEqual(c.read(), b"v")

    def test_unsubscribe_when_not_subscribed(self):
        self.assertEqual(self.r.cmd_raw("UNSUBSCRIBE")[1],
                         b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n")
        self.assertEqual(self.r.cmd_raw("PUNSUBSCRIBE")[1],
                         b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n")
        self.assertEqual(self.r.cmd("PING"), "PONG")

    def test_raw_keyspace_message_bytes(self):
        c = self.conn()
        k = self.k("raw")
        ch = ("__keyspace@0__:" + k).encode()
        c.cmd("SUBSCRIBE", ch)
        self.r.cmd("SET", k, "v")
        v, raw = c.read_raw()
        self.assertEqual(raw, b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$3\r\nset\r\n"
                         % (len(ch), ch))


class Pipelining(Base):
    def test_redis_py_pipeline_500(self):
        r = self.py()
        p = r.pipeline(transaction=False)
        want = []
        cnt = self.k("cnt")
        for i in range(500):
            m = i % 4
            if m == 0:
                p.set(self.k("p%d" % i), "v%d" % i)
                want.append(True)
            elif m == 1:
                p.get(self.k("p%d" % (i - 1)))
                want.append(("v%d" % (i - 1)).encode())
            elif m == 2:
                p.incr(cnt)
                want.append(i // 4 + 1)
            else:
                p.get(self.k("missing%d" % i))
                want.append(None)
        self.assertEqual(p.execute(), want)
        self.assertEqual(r.get(cnt), b"125")
        self.assertEqual(r.dbsize(), 126)

    def test_redis_py_pipeline_with_error(self):
        r = self.py()
        r.set(self.k("s"), "notint")
        p = r.pipeline(transaction=False)
        p.set(self.k("a"), "1")
        p.incr(self.k("s"))
        p.get(self.k("a"))
        res = p.execute(raise_on_error=False)
        self.assertEqual(res[0], True)
        self.assertIsInstance(res[1], redis.ResponseError)
        self.assertEqual(str(res[1]), E_NOTINT[4:])
        self.assertEqual(res[2], b"1")

    def test_raw_pipeline_one_write(self):
        n = 300
        data = b"".join(encode("SET", self.k(str(i)), str(i)) +
                        encode("INCR", self.k(str(i))) for i in range(n))
        self.r.send(data + encode("DBSIZE"))
        for i in range(n):
            self.assertOK(self.r.read())
            self.assertEqual(self.r.read(), i + 1)
        self.assertEqual(self.r.read(), n)

    def test_command_split_byte_by_byte(self):
        data = encode("SET", self.k(), "split-value") + b"PING\r\n"
        for i in range(len(data)):
            self.r.send(data[i:i + 1])
            if i % 8 == 0:
                time.sleep(0.002)
        self.assertOK(self.r.read())
        self.assertEqual(self.r.read(), "PONG")
        self.assertEqual(self.r.cmd("GET", self.k()), b"split-value")

    def test_large_value_in_pieces(self):
        val = os.urandom(3 * 1024 * 1024 + 7)
        data = encode("SET", self.k(), val)
        for off in range(0, len(data), 65521):
            self.r.send(data[off:off + 65521])
        self.assertOK(self.r.read())
        self.assertEqual(self.r.cmd("GET", self.k()), val)

    def test_redis_py_api_smoke(self):
        r = self.py()
        self.assertTrue(r.set(self.k("a"), "1", ex=100))
        self.assertEqual(r.get(self.k("a")), b"1")
        self.assertEqual(r.incr(self.k("a"), 5), 6)
        self.assertTrue(0 < r.ttl(self.k("a")) <= 100)
        self.assertTrue(r.mset({self.k("b"): "2", self.k("c"): "3"}))
        self.assertEqual(r.mget(self.k("b"), self.k("c"), self.k("z")),
                         [b"2", b"3", None])
        self.assertEqual(r.exists(self.k("a"), self.k("b")), 2)
        self.assertEqual(sorted(r.scan_iter(match=self.k("*"), count=2)),
                         sorted(self.k(x).encode() for x in "abc"))
        self.assertEqual(r.delete(self.k("a"), self.k("b")), 2)
        self.assertEqual(r.getdel(self.k("c")), b"3")
        self.assertEqual(r.dbsize(), 0)
        self.assertTrue(r.ping())
        self.assertEqual(r.echo("x"), b"x")
        self.assertEqual(r.type(self.k("a")), b"none")


class Protocol(Base):
    """Malformed input on fresh connections: the exact error, the close,
    and that the server still serves a new connection."""

    def bad(self, data, error):
        c = self.conn()
        c.send(data)
        v = c.read()
        self.assertErr(v, error)
        self.assertTrue(c.wait_closed(), "connection left open after %r"
                        % (error,))
        self.assertEqual(c.pending(), b"", "bytes after the error reply")
        self.assertWorks()

    def test_negative_multibulk_count_is_ignored(self):
        c = self.conn()
        c.send(b"*-10\r\n")
        self.assertEqual(c.quiet(), (b"", False))
        self.assertEqual(c.cmd("PING"), "PONG")
        c.send(b"*0\r\n*-1\r\nPING\r\n")
        self.assertEqual(c.read_raw()[1], b"+PONG\r\n")

    def test_multibulk_count_not_a_number(self):
        self.bad(b"*abc\r\n", "ERR Protocol error: invalid multibulk length")

    def test_multibulk_count_over_int_max(self):
        self.bad(b"*2147483648\r\n",
                 "ERR Protocol error: invalid multibulk length")

    def test_multibulk_count_1m_plus_1_is_accepted(self):
        # Redis 7.0 has no 1024*1024 cap (only > INT_MAX is refused): a
        # command of 1048577 arguments is read and executed.
        k = "mb%04d" % random.randrange(10000)  # short: 12 bytes an arg
        self.r.cmd("SET", k, "1")
        kb = k.encode()
        one = b"$%d\r\n%s\r\n" % (len(kb), kb)
        if TARGET == "ferry":
            # A million server round trips; a sanitized build (make
            # sanitize) reads the 14 MB slowly and takes minutes.
            # run.sh's time-out still bounds it.
            self.r.s.settimeout(600)
        self.r.send(b"*1048577\r\n$6\r\nEXISTS\r\n" + one * (1024 * 1024))
        self.assertEqual(self.r.read(), 1024 * 1024)
        self.r.s.settimeout(self.r.timeout)
        self.assertEqual(self.r.cmd("PING"), "PONG")

    def test_negative_bulk_length(self):
        self.bad(b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length")

    def test_null_bulk_in_request(self):
        self.bad(b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length")

    def test_bulk_length_not_a_number(self):
        self.bad(b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length")

    def test_bulk_length_over_512mb(self):
        self.bad(b"*2\r\n$3\r\nGET\r\n$536870913\r\n",
                 "ERR Protocol error: invalid bulk length")

    def test_expected_dollar(self):
        c = self.conn()
        c.send(b"*1\r\nfoo")
        # no line end yet: Redis waits for more
        self.assertEqual(c.quiet(), (b"", False))
        c.send(b"\r\n")
        self.assertErr(c.read(), "ERR Protocol error: expected '$', got 'f'")
        self.assertTrue(c.wait_closed())
        self.assertWorks()

    def test_expected_dollar_fresh(self):
        self.bad(b"*2\r\n$4\r\nECHO\r\n:12\r\n",
                 "ERR Protocol error: expected '$', got ':'")

    def test_bulk_not_followed_by_crlf(self):
        # Redis does not check the two bytes after a bulk payload: it skips
        # them, runs the command and keeps the connection.
        c = self.conn()
        c.send(b"*1\r\n$3\r\nabcXY")
        self.assertErr(c.read(), unknown("abc"))
        self.assertEqual(c.quiet(), (b"", False))
        c.send(b"*1\r\n$4\r\nPINGXY")
        self.assertEqual(c.read_raw()[1], b"+PONG\r\n")
        self.assertEqual(c.cmd("PING"), "PONG")

    def test_too_big_inline_request(self):
        self.bad(b"A" * (70 * 1024),
                 "ERR Protocol error: too big inline request")

    def test_too_big_multibulk_count_string(self):
        self.bad(b"*" + b"1" * (70 * 1024),
                 "ERR Protocol error: too big mbulk count string")

    def test_too_big_bulk_count_string(self):
        self.bad(b"*1\r\n$" + b"1" * (70 * 1024),
                 "ERR Protocol error: too big bulk count string")

    def test_unbalanced_quotes_inline(self):
        self.bad(b'SET k "unbalanced\r\n',
                 "ERR Protocol error: unbalanced quotes in request")

    def test_unbounded_bulk_slow_sender(self):
        c = self.conn()
        c.send(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$104857600\r\n"
               % (len(self.k()), self.k().encode()))
        chunk = b"x" * 65536
        for _ in range(16):
            c.send(chunk)
            time.sleep(0.01)
            # the server keeps serving others meanwhile
        self.assertEqual(self.r.cmd("PING"), "PONG")
        self.assertEqual(c.quiet(0.2), (b"", False))
        c.close()
        self.assertWorks()
        self.assertEqual(self.r.cmd("EXISTS", self.k()), 0)

    def test_inline_commands(self):
        c = self.r
        k = self.k().encode()
        c.send(b"PING\r\n")
        self.assertEqual(c.read_raw()[1], b"+PONG\r\n")
        c.send(b"PING\n")
        self.assertEqual(c.read_raw()[1], b"+PONG\r\n")
        c.send(b"SET " + k + b' "a b"\r\nGET ' + k + b"\r\n")
        self.assertOK(c.read())
        self.assertEqual(c.read(), b"a b")
        c.send(b"SET " + k + b" 'c d'\r\nget " + k + b"\n")
        self.assertOK(c.read())
        self.assertEqual(c.read(), b"c d")
        c.send(b"SET " + k + b' "x\\r\\ny\\x00"\r\nSTRLEN ' + k + b"\r\n")
        self.assertOK(c.read())
        self.assertEqual(c.read(), 5)
        c.send(b"  \r\n\r\nECHO   spaced   \r\n")
        self.assertEqual(c.read(), b"spaced")
        c.send(b"INCR\r\n")
        self.assertErr(c.read(), arity("incr"))

    def test_scan_cursor_ends_with_its_argument(self):
        # The bytes after the cursor argument are not part of it: what an
        # inline quote leaves behind, or digits where a bulk's CRLF goes
        # (skipped unchecked, at the very end of the request).
        c = self.r
        empty = b"*2\r\n$1\r\n0\r\n*0\r\n"
        c.send(b'SCAN "0" COUNT 5\r\n')
        self.assertEqual(c.read_raw()[1], empty)
        c.send(b"SCAN '0'\r\n")
        self.assertEqual(c.read_raw()[1], empty)
        c.send(b"*2\r\n$4\r\nSCAN\r\n$1\r\n012")
        self.assertEqual(c.read_raw()[1], empty)
        self.assertEqual(c.cmd("PING"), "PONG")

    def test_pipelined_after_error_not_run(self):
        # a protocol error closes the connection: what followed is dropped
        c = self.conn()
        c.send(b"*1\r\n$-5\r\n" + encode("SET", self.k(), "x"))
        self.assertErr(c.read(), "ERR Protocol error: invalid bulk length")
        self.assertTrue(c.wait_closed())
        self.assertEqual(self.r.cmd("EXISTS", self.k()), 0)


class Auth(Base):
    """A server with a password (RESP_PASSWORD): what a client may do
    before AUTH, and AUTH's answers."""

    def setUp(self):
        if not PASSWORD:
            self.skipTest("RESP_PASSWORD not set")
        super().setUp()

    def test_noauth(self):
        c = self.conn(auth=False)
        for args in (("GET", self.k()), ("SET", self.k(), "v"), ("PING",),
                     ("ECHO", "x"), ("DBSIZE",), ("KEYS", "*"),
                     ("SUBSCRIBE", "ch"), ("CLIENT", "ID"),
                     ("SELECT", "0")):
            self.assertErr(c.cmd(*args), E_NOAUTH)
        # the name and the arity are checked first
        self.assertErr(c.cmd("NOSUCHCMD"), unknown("NOSUCHCMD"))
        self.assertErr(c.cmd("GET"), arity("get"))
        self.assertEqual(self.r.cmd("EXISTS", self.k()), 0)

    def test_wrongpass(self):
        c = self.conn(auth=False)
        self.assertErr(c.cmd("AUTH", "wrong"), E_WRONGPASS)
        self.assertErr(c.cmd("AUTH", "default", "wrong"), E_WRONGPASS)
        self.assertErr(c.cmd("AUTH", "default", ""), E_WRONGPASS)
        self.assertErr(c.cmd("AUTH", "nosuchuser", "wrong"), E_WRONGPASS)
        self.assertErr(c.cmd("GET", self.k()), E_NOAUTH)
        self.assertErr(c.cmd("AUTH"), arity("auth"))
        self.assertErr(c.cmd("AUTH", "a", "b", "c"), E_SYNTAX)
        self.assertOK(c.cmd("AUTH", PASSWORD))
        self.assertEqual(c.cmd("GET", self.k()), None)
        # a wrong AUTH later leaves the connection as it was
        self.assertErr(c.cmd("AUTH", "wrong"), E_WRONGPASS)
        self.assertEqual(c.cmd("PING"), "PONG")

    def test_hello_needs_auth(self):
        c = self.conn(auth=False)
        self.assertErr(c.cmd("HELLO"), E_HELLO_NOAUTH)
        self.assertErr(c.cmd("HELLO", "3"), E_HELLO_NOAUTH)
        self.assertErr(c.cmd("HELLO", "3", "SETNAME", "x"), E_HELLO_NOAUTH)
        self.assertErr(c.cmd("HELLO", "3", "AUTH", "default", "wrong"),
                       E_WRONGPASS)
        self.assertErr(c.cmd("HELLO", "4"),
                       "NOPROTO unsupported protocol version")
        self.assertErr(c.cmd("GET", self.k()), E_NOAUTH)
        v = c.cmd("HELLO", "3", "AUTH", "default", PASSWORD)
        self.assertIsInstance(v, dict)
        self.assertEqual(v[b"proto"], 3)
        self.assertEqual(c.cmd_raw("GET", self.k())[1], b"_\r\n")

    def test_pipelined_auth(self):
        c, k = self.conn(auth=False), self.k()
        c.send(encode("SET", k, "early") + encode("AUTH", PASSWORD) +
               encode("SET", k, "v") + encode("GET", k))
        self.assertErr(c.read(), E_NOAUTH)
        self.assertOK(c.read())
        self.assertOK(c.read())
        self.assertEqual(c.read(), b"v")

    def test_quit_before_auth(self):
        c = self.conn(auth=False)
        self.assertOK(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed())

    def test_redis_py(self):
        with self.assertRaises(redis.exceptions.RedisError) as e:
            self.py(password="wrong").ping()
        self.assertIn("WRONGPASS", str(e.exception))
        with self.assertRaises(redis.exceptions.AuthenticationError):
            self.py(password=None).get(self.k())
        self.assertTrue(self.py().set(self.k(), "v"))
        self.assertEqual(self.py().get(self.k()), b"v")


class Namespaces(Base):
    """ferry: AUTH with a namespace's token (RESP_NS_TOKENS) moves the
    connection into that namespace, where the keys, listings, counts and
    notifications are its own."""

    def setUp(self):
        if TARGET != "ferry" or len(NS_TOKENS) < 2:
            self.skipTest("ferry with RESP_NS_TOKENS only")
        super().setUp()
        self.a = self.py(password=NS_TOKENS[0])
        self.b = self.py(password=NS_TOKENS[1])
        self.assertTrue(self.a.flushdb())
        self.assertTrue(self.b.flushdb())

    def test_same_key(self):
        k = self.k()
        self.assertTrue(self.a.set(k, "a"))
        self.assertIsNone(self.b.get(k))
        self.assertIsNone(self.r.cmd("GET", k))
        self.assertTrue(self.b.set(k, "b"))
        self.assertOK(self.r.cmd("SET", k, "default"))
        self.assertEqual(self.a.get(k), b"a")
        self.assertEqual(self.b.get(k), b"b")
        self.assertEqual(self.a.delete(k), 1)
        self.assertEqual(self.a.exists(k), 0)
        self.assertEqual(self.b.get(k), b"b")
        self.assertEqual(self.r.cmd("GET", k), b"default")
        self.assertEqual(self.b.incr(self.k("n")), 1)
        self.assertEqual(self.a.incr(self.k("n")), 1)

    def test_keys_scan_dbsize(self):
        for i in range(3):
            self.a.set(self.k(str(i)), i)
        self.b.set(self.k("b"), 1)
        self.assertEqual(self.a.dbsize(), 3)
        self.assertEqual(self.b.dbsize(), 1)
        self.assertEqual(self.a.info("keyspace")["db0"]["keys"], 3)
        self.assertEqual(sorted(self.a.keys(self.k("*"))),
                         [self.k(str(i)).encode() for i in range(3)])
        self.assertEqual(self.b.keys("*"), [self.k("b").encode()])
        self.assertEqual(sorted(self.a.scan_iter(match=self.k("*"),
                                                 count=2)),
                         [self.k(str(i)).encode() for i in range(3)])
        self.assertEqual(self.r.cmd("KEYS", self.k("*")), [])
        # FLUSHDB empties the caller's namespace only
        self.assertTrue(self.a.flushdb())
        self.assertEqual(self.a.dbsize(), 0)
        self.assertEqual(self.b.get(self.k("b")), b"1")

    def test_scan_cursor_stays_home(self):
        for i in range(20):
            self.a.set(self.k(str(i)), i)
        cur, keys = self.a.scan(0, count=5)
        self.assertNotEqual(cur, 0)
        with self.assertRaises(redis.exceptions.ResponseError) as e:
            self.b.scan(cur, count=5)
        self.assertIn("invalid cursor", str(e.exception))

    def test_notifications(self):
        k = self.k()
        ch = ("__keyspace@0__:" + k).encode()
        p = self.b.pubsub()
        self._clients.append(p)
        p.subscribe(ch)
        self.assertEqual(p.get_message(timeout=2)["type"], "subscribe")
        self.a.set(k, "x")
        self.r.cmd("SET", k, "x")
        self.assertIsNone(p.get_message(timeout=QUIET))
        self.b.set(k, "y")
        self.assertEqual(p.get_message(timeout=2),
                         {"type": "message", "pattern": None,
                          "channel": ch, "data": b"set"})

    def test_auth_switches(self):
        c, k = self.conn(), self.k()
        self.assertOK(c.cmd("SET", k, "default"))
        self.assertOK(c.cmd("AUTH", NS_TOKENS[0]))
        self.assertIsNone(c.cmd("GET", k))
        self.assertOK(c.cmd("SET", k, "a"))
        self.assertOK(c.cmd("AUTH", "anyone", NS_TOKENS[1]))
        self.assertIsNone(c.cmd("GET", k))
        v = c.cmd("HELLO", "2", "AUTH", "someone", NS_TOKENS[0])
        self.assertIsInstance(v, list)
        self.assertEqual(c.cmd("GET", k), b"a")
        # a token that opens nothing: refused, the namespace stays
        self.assertErr(c.cmd("AUTH", "anyone", "0" * 64), E_WRONGPASS)
        self.assertEqual(c.cmd("GET", k), b"a")
        self.assertEqual(self.r.cmd("GET", k), b"default")

    def test_pipelined_auth_asked_about(self):
        # A token the proxy does not know is asked about at the servers
        # without holding up the proxy; the commands after it in the
        # pipeline wait for the answer, also when the AUTH itself waited
        # for a read before it.
        c, k = self.conn(auth=False), self.k()
        unknown = os.urandom(32).hex()
        c.send(encode("AUTH", NS_TOKENS[0]) + encode("SET", k, "a") +
               encode("GET", k) + encode("AUTH", unknown) +
               encode("GET", k) + encode("HELLO", "3", "AUTH", "u",
                                         unknown) + encode("PING"))
        self.assertOK(c.read())
        self.assertOK(c.read())
        self.assertEqual(c.read(), b"a")
        # (a proxy without an admin token is Redis without a password)
        self.assertErr(c.read(), E_WRONGPASS if PASSWORD else E_AUTH_NOPASS)
        self.assertEqual(c.read(), b"a")  # still in its namespace
        self.assertErr(c.read(), E_WRONGPASS)
        self.assertEqual(c.read(), "PONG")


class UnixSocket(Base):
    """A smoke subset over RESP_UNIX."""
    unix = UNIX

    def setUp(self):
        if not UNIX:
            self.skipTest("RESP_UNIX not set")
        super().setUp()

    def test_unix_ping_set_get(self):
        self.assertEqual(self.r.cmd_raw("PING")[1], b"+PONG\r\n")
        val = os.urandom(1 << 20)
        self.assertOK(self.r.cmd("SET", self.k(), val))
        self.assertEqual(self.r.cmd("GET", self.k()), val)
        self.assertEqual(self.r.cmd("INCR", self.k("n")), 1)
        self.assertErr(self.r.cmd("GET"), arity("get"))

    def test_unix_redis_py_pipeline(self):
        r = self.py()
        p = r.pipeline(transaction=False)
        for i in range(200):
            p.set(self.k(str(i)), i)
            p.incr(self.k(str(i)))
        self.assertEqual(p.execute(),
                         [x for i in range(200) for x in (True, i + 1)])
        self.assertEqual(r.dbsize(), 200)

    def test_unix_protocol_error(self):
        c = self.conn()
        c.send(b"*abc\r\n")
        self.assertErr(c.read(), "ERR Protocol error: invalid multibulk length")
        self.assertTrue(c.wait_closed())
        self.assertEqual(self.conn().cmd("PING"), "PONG")

    def test_unix_tcp_same_keys(self):
        tcp = Conn()
        self._conns.append(tcp)
        self.assertOK(self.r.cmd("SET", self.k(), "via-unix"))
        self.assertEqual(tcp.cmd("GET", self.k()), b"via-unix")

    def test_unix_keyspace_notification(self):
        k = self.k()
        ch = ("__keyspace@0__:" + k).encode()
        p = self.py().pubsub()
        self._clients.append(p)
        p.subscribe(ch)
        self.assertEqual(p.get_message(timeout=2)["type"], "subscribe")
        self.r.cmd("SET", k, "v")
        m = p.get_message(timeout=2)
        self.assertEqual(m, {"type": "message", "pattern": None,
                             "channel": ch, "data": b"set"})


# ---------------------------------------------------------------------------
# TAP output

class TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0
        self.passed = 0
        self.nfailed = 0
        self.nskipped = 0

    def _name(self, test):
        return "%s.%s" % (type(test).__name__, test._testMethodName)

    def _diag(self, test, err):
        text = self._exc_info_to_string(err, test)
        for line in text.rstrip().splitlines()[-30:]:
            print("#   " + line)

    def addSuccess(self, test):
        self.n += 1
        self.passed += 1
        print("ok %d - %s" % (self.n, self._name(test)), flush=True)

    def _fail(self, test, err):
        if getattr(test, "_tap_failed", False):
            # already reported (a failed sub-test): add the detail only
            self._diag(test, err)
            return
        test._tap_failed = True
        self.n += 1
        self.nfailed += 1
        print("not ok %d - %s" % (self.n, self._name(test)))
        self._diag(test, err)
        sys.stdout.flush()

    addFailure = _fail
    addError = _fail

    def addSubTest(self, test, subtest, err):
        # a failing sub-test fails its case once (reported at stopTest)
        if err is not None:
            print_where = not getattr(test, "_tap_failed", False)
            self._fail(test, err)
            if print_where:
                print("#   in %s" % subtest._subDescription())

    def addSkip(self, test, reason):
        self.n += 1
        self.nskipped += 1
        print("ok %d # SKIP %s: %s" % (self.n, self._name(test), reason),
              flush=True)

    def addExpectedFailure(self, test, err):
        self.addSuccess(test)

    def addUnexpectedSuccess(self, test):
        self._fail(test, (AssertionError, AssertionError("unexpected "
                                                         "success"), None))

    def stopTest(self, test):
        super().stopTest(test)


def _patch_success(result):
    """unittest calls addSuccess even when a sub-test failed; drop it."""
    orig = result.addSuccess

    def add_success(test):
        if getattr(test, "_tap_failed", False):
            return
        orig(test)
    result.addSuccess = add_success


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def main(argv):
    loader = unittest.TestLoader()
    mod = sys.modules[__name__]
    argv = argv or (os.environ.get("RESP_CASES") or "").split()
    if argv:
        suite = unittest.TestSuite(loader.loadTestsFromName(a, mod)
                                   for a in argv)
    else:
        suite = unittest.TestSuite()
        for cls in (Connection, Strings, Counters, Expiry, Keys, Scan, PubSub,
                    Pipelining, Protocol, Auth, Namespaces, UnixSocket):
            suite.addTests(loader.loadTestsFromTestCase(cls))
    print("# RESP suite: target=%s host=%s port=%d unix=%s password=%s "
          "namespaces=%d python=%s redis-py=%s"
          % (TARGET, HOST, PORT, UNIX or "-", "yes" if PASSWORD else "no",
             len(NS_TOKENS), sys.executable,
             getattr(redis, "__version__", "missing")), flush=True)
    result = TapResult()
    _patch_success(result)
    t0 = time.monotonic()
    for test in _flatten(suite):
        if time.monotonic() - t0 > DEADLINE:
            # a hung target must not hang the caller: fail the rest fast
            result._fail(test, (AssertionError, AssertionError(
                "not run: the suite passed its %d s deadline "
                "(RESP_DEADLINE)" % DEADLINE), None))
            continue
        test(result)
    print("1..%d" % result.n)
    print("# %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed, %d skipped" % (result.passed, result.nfailed,
                                                result.nskipped))
    return 1 if result.nfailed or result.n == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
