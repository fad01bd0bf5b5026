#!/usr/bin/python3
"""Jenkins emulator for slipway's tests: the Jenkins wire format, the queue, and the SSH launcher.

Jenkins cannot run on the test machines, so this stands in for a Jenkins controller with the SSH
Build Agents plugin. It answers on 127.0.0.1 only. Everything it does is taken from the upstream
sources; each behaviour cites the file it follows:

  jenkinsci/jenkins          core/src/main/java/...       (REST API, security, queue, labels)
  jenkinsci/ssh-agents-plugin hudson/plugins/sshslaves/SSHLauncher.java (+ verifiers, Messages)
  jenkinsci/stapler          RequestImpl.getSubmittedForm, NamedPathPruner, TreePruner.ByDepth
  jenkinsci/workflow-durable-task-step  ExecutorStepExecution.PlaceholderTask

Agents are launched like SSHLauncher does, with real OpenSSH (ssh/sftp/scp) instead of trilead:
one ssh ControlMaster connection per launch plays the role of the plugin's single trilead
Connection, and every "session" of the plugin (exec "exit 0", exec "set", java -version, SFTP,
the agent process) is a multiplexed session on it. The agent process is the remoting.jar
stand-in built by tests/jenkins/build-jar (line-based JSON over stdin/stdout).

See README.md in this directory for the endpoints, status codes and the control API.
Python 3.11 standard library only.
"""

import argparse
import base64
import binascii
import hashlib
import html
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

JENKINS_VERSION = "2.516.3"
REMOTING_JAR = "remoting.jar"

# --------------------------------------------------------------------------------------------
# Message texts (English), as in the Jenkins resource bundles.
# core/src/main/resources/hudson/model/Messages.properties, jenkins/model/Messages.properties,
# hudson/slaves/Messages.properties; checked against real outputs where the stored sources were
# older than the agent/controller renaming (2.307+).
# --------------------------------------------------------------------------------------------
LQ, RQ = "\u2018", "\u2019"   # ‘ ’


def q(s):
    return LQ + s + RQ


MSG_NO_NAME = "No name is specified"                                   # Hudson.NoName
MSG_NAME_REQUIRED = "Query parameter 'name' is required"               # ComputerSet.checkName


def msg_not_allowed_name(n):                                           # Jenkins.NotAllowedName
    return "\u201c" + n + "\u201d is not an allowed name"


def msg_control_code(printable):                                       # Hudson.ControlCodeNotAllowed
    return "No control code is allowed: " + printable


def msg_unsafe_char(ch):                                               # Hudson.UnsafeChar
    return q(ch) + " is an unsafe character"


MSG_TRAILING_DOT = "A name cannot end with " + q(".")                  # Hudson.TrailingDot


def msg_agent_exists(n):                                               # ComputerSet.SlaveAlreadyExists
    return "Agent called " + q(n) + " already exists"


def msg_invalid_executors(n):                                          # Slave.InvalidConfig.Executors
    return "Invalid agent configuration for " + n + ". Invalid # of executors."


def msg_waiting_on(n):                                                 # Queue.WaitingForNextAvailableExecutorOn
    return "Waiting for next available executor on " + q(n)


MSG_WAITING = "Waiting for next available executor"                    # Queue.WaitingForNextAvailableExecutor


def msg_node_offline(n):                                               # Queue.NodeOffline
    return q(n) + " is offline"


def msg_all_offline(label):                                            # Queue.AllNodesOffline
    return "All nodes of label " + q(label) + " are offline"


def msg_no_nodes(label):                                               # Queue.LabelHasNoNodes
    return "There are no nodes with the label " + q(label)


def msg_label_missing(n, label):                                       # Node.LabelMissing
    return q(n) + " doesn" + RQ + "t have label " + q(label)


def msg_reserved(n):                                                   # Node.BecauseNodeIsReserved
    return q(n) + " is reserved for jobs with matching label expression"


def msg_not_accepting(n):                                              # Node.BecauseNodeIsNotAcceptingTasks
    return q(n) + " is not accepting tasks"


def msg_in_progress(number):                                           # BlockedBecauseOfBuildInProgress
    return "Build #%d is already in progress" % number


def msg_quiet_period(span):                                            # Queue.InQuietPeriod
    return "In the quiet period. Expires in " + span


MSG_LAUNCH_FAILED = "This agent is offline because Jenkins failed to launch the agent process on it."  # OfflineCause.LaunchFailed
MSG_NODE_DESCRIPTION = "the Jenkins controller's built-in node"       # Hudson.NodeDescription
BUILTIN_DISPLAY_NAME = "Built-In Node"                                 # Hudson.Computer.DisplayName
BUILTIN_LABEL = "built-in"                                             # Jenkins.getSelfLabel()
MSG_INVALID_LABEL = "invalid label"                                    # Label.InvalidLabel


def msg_group_of(names):                                               # Label.GroupOf
    return "group of " + names


# ssh-agents-plugin src/main/resources/hudson/plugins/sshslaves/Messages.properties
def ts():
    """SSHLauncher.getTimestamp(): String.format("[%1$tD %1$tT]", new Date())."""
    return time.strftime("[%m/%d/%y %H:%M:%S]")


SSH_MSG = {
    "OpeningSSHConnection": "{0} [SSH] Opening SSH connection to {1}.",
    "AuthenticationSuccessful": "{0} [SSH] Authentication successful.",
    "AuthenticationFailed": "{0} [SSH] Authentication failed.",
    "AuthenticationFailedException": "Authentication failed.",
    "SSHHeaderJunkDetected": "SSH connection reports a garbage before a command execution.\nCheck your .bashrc, .profile, and so on to make sure it is quiet.\nThe received junk text is as follows:",
    "RemoteUserEnvironment": "{0} [SSH] The remote user's environment is:",
    "CheckingDefaultJava": "{0} [SSH] Checking java version of {1}",
    "JavaVersionResult": "{0} [SSH] {1} -version returned {2}.",
    "UnknownJavaVersion": "Couldn't figure out the Java version of {0}",
    "NoJavaFound2": "Java version {0} was found but 1.{1} or later is needed.",
    "StartingSFTPClient": "{0} [SSH] Starting sftp client.",
    "RemoteFSDoesNotExist": "{0} [SSH] Remote file system root {1} does not exist. Will try to create it...",
    "RemoteFSIsAFile": "Remote file system root {0} is a file not a directory or a symlink.",
    "CopyingAgentJar": "{0} [SSH] Copying latest remoting.jar...",
    "CopiedXXXBytes": "{0} [SSH] Copied {1} bytes.",
    "ErrorCopyingAgentJarInto": "Could not copy remoting.jar into '{0}' on agent",
    "ErrorCopyingAgentJarTo": "Could not copy remoting.jar to '{0}' on agent",
    "StartingSCPClient": "{0} [SSH] SFTP failed. Copying via SCP.",
    "StartingAgentProcess": "{0} [SSH] Starting agent process: {1}",
    "ConnectionClosed": "{0} [SSH] Connection closed.",
    "UnexpectedError": "Unexpected error in launching a agent. This is probably a bug in Jenkins.",
    "KeyTrusted": "{0} [SSH] SSH host key matched the key required for this connection. Connection will be allowed.",
    "KeyNotTrusted": "{0} [SSH] WARNING: The SSH key for this host does not match the key required in the connection configuration. Connections will be denied until the host key matches the configuration key.",
    "LaunchFailedDuration": "{0} SSH Launch of {1} on {2} failed in {3} ms",
    "LaunchCompletedDuration": "{0} SSH Launch of {1} on {2} completed in {3} ms",
    "SelectedCredentialsMissing": "The selected credentials cannot be found",
}


def sshmsg(key, *args):
    s = SSH_MSG[key]
    for i, a in enumerate(args):
        s = s.replace("{%d}" % i, str(a))
    return s


# SSHLauncher constants
DEFAULT_MAX_NUM_RETRIES = 10
DEFAULT_RETRY_WAIT_TIME = 15
DEFAULT_LAUNCH_TIMEOUT_SECONDS = DEFAULT_MAX_NUM_RETRIES * DEFAULT_RETRY_WAIT_TIME + 60
MIN_JAVA_LEVEL = 17   # JavaProvider.getMinJavaLevel() on a current controller

SSH_LAUNCHER = "hudson.plugins.sshslaves.SSHLauncher"
# Inbound agents connect to Jenkins themselves: launching one does nothing on the controller's
# side (hudson.slaves.JNLPLauncher.launch is a no-op), so such a node stays offline until an
# agent dials in -- which never happens here.
INBOUND_LAUNCHER = "hudson.slaves.JNLPLauncher"
MANUAL_KEY_STRATEGY = "hudson.plugins.sshslaves.verifiers.ManuallyProvidedKeyVerificationStrategy"
RETENTION_ALWAYS = "hudson.slaves.RetentionStrategy$Always"
DUMB_SLAVE = "hudson.slaves.DumbSlave"

CLS_SLAVE_COMPUTER = "hudson.slaves.SlaveComputer"
CLS_MASTER_COMPUTER = "hudson.model.Hudson$MasterComputer"
CLS_FREESTYLE = "hudson.model.FreeStyleProject"
CLS_FREESTYLE_BUILD = "hudson.model.FreeStyleBuild"
CLS_WORKFLOW_JOB = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
CLS_WORKFLOW_RUN = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
CLS_PLACEHOLDER = "org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask"
CLS_PLACEHOLDER_EXEC = CLS_PLACEHOLDER + "$PlaceholderExecutable"


# --------------------------------------------------------------------------------------------
# Names: Jenkins.checkGoodName (core/src/main/java/jenkins/model/Jenkins.java) and
# ComputerSet.doDoCreateItem/checkName (core/src/main/java/hudson/model/ComputerSet.java).
# --------------------------------------------------------------------------------------------
UNSAFE_CHARS = "?*/\\%!@#$^&|<>[]:;"


def is_iso_control(ch):
    o = ord(ch)
    return o <= 0x1F or 0x7F <= o <= 0x9F


def to_printable_name(name):
    return "".join("\\u%d;" % ord(c) if is_iso_control(c) else c for c in name)


def check_good_name(name):
    """Returns None when good, else the Failure message."""
    if name is None or name == "":
        return MSG_NO_NAME
    if name.strip() == ".":
        return msg_not_allowed_name(".")
    if name.strip() == "..":
        return msg_not_allowed_name("..")
    for ch in name:
        if is_iso_control(ch):
            return msg_control_code(to_printable_name(name))
        if ch in UNSAFE_CHARS:
            return msg_unsafe_char(ch)
    if name.strip().endswith("."):
        return MSG_TRAILING_DOT
    return None


def java_trim(s):
    """String.trim(): strips chars <= U+0020."""
    i, j = 0, len(s)
    while i < j and ord(s[i]) <= 0x20:
        i += 1
    while j > i and ord(s[j - 1]) <= 0x20:
        j -= 1
    return s[i:j]


def fix_empty_and_trim(s):
    if s is None:
        return None
    s = java_trim(s)
    return s or None


# --------------------------------------------------------------------------------------------
# Label expressions: core/src/main/antlr4/hudson/model/labels/LabelExpressionLexer.g4 and
# LabelExpressionParser.g4, hudson/model/labels/LabelExpression.java, LabelAtom.java,
# LabelOperatorPrecedence.java, hudson/util/QuotedStringTokenizer.java.
# --------------------------------------------------------------------------------------------
PREC = {"ATOM": 0, "NOT": 1, "AND": 2, "OR": 3, "IMPLIES": 4, "IFF": 5}
OPSTR = {"AND": "&&", "OR": "||", "IMPLIES": "->", "IFF": "<->"}


def qst_quote(s):
    """QuotedStringTokenizer.quote."""
    if s == "":
        return '""'
    out = ['"']
    for c in s:
        out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                    "\f": "\\f", "\b": "\\b"}.get(c, c))
    out.append('"')
    return "".join(out)


def qst_unquote(s):
    """QuotedStringTokenizer.unquote."""
    if s is None or len(s) < 2:
        return s
    first, last = s[0], s[-1]
    if first != last or first not in "\"'":
        return s
    out, i, body = [], 0, s[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            e = body[i + 1]
            i += 2
            if e == "u" and i + 4 <= len(body):
                out.append(chr(int(body[i:i + 4], 16)))
                i += 4
            else:
                out.append({"n": "\n", "r": "\r", "t": "\t", "f": "\f", "b": "\b"}.get(e, e))
            continue
        out.append(c)
        i += 1
    return "".join(out)


def qst_tokenize(s):
    """QuotedStringTokenizer(s) with default delimiters, as Label.parse uses it for labelString."""
    tokens, cur, have, i = [], [], False, 0
    while i < len(s):
        c = s[i]
        if c in " \t\n\r\f":
            if have:
                tokens.append("".join(cur))
                cur, have = [], False
            i += 1
            continue
        if c in "\"'":
            quote = c
            i += 1
            have = True
            while i < len(s) and s[i] != quote:
                if s[i] == "\\" and i + 1 < len(s):
                    i += 1
                cur.append(s[i])
                i += 1
            i += 1
            continue
        cur.append(c)
        have = True
        i += 1
    if have:
        tokens.append("".join(cur))
    return tokens


def needs_escape(name):
    """LabelAtom.needsEscape."""
    if check_good_name(name) is not None:
        return True
    return any(ch in " ()\t\n" for ch in name)


def atom_expression(name):
    """LabelAtom.getExpression -> escape(name)."""
    return qst_quote(name) if needs_escape(name) else name


class Label:
    """A parsed label (LabelAtom or one of LabelExpression's subclasses)."""

    def __init__(self, kind, name=None, a=None, b=None):
        self.kind = kind            # ATOM NOT PAREN AND OR IMPLIES IFF
        self.a, self.b = a, b
        if kind == "ATOM":
            self.name = name
        elif kind == "NOT":
            self.name = "!" + paren(PREC["NOT"], a)
        elif kind == "PAREN":
            self.name = "(" + a.expression() + ")"
        else:
            op = PREC[kind]
            self.name = paren(op, a) + OPSTR[kind] + paren(op, b)

    def precedence(self):
        return PREC["ATOM"] if self.kind in ("ATOM", "PAREN") else PREC[self.kind]

    def expression(self):
        return atom_expression(self.name) if self.kind == "ATOM" else self.name

    @property
    def cls(self):
        if self.kind == "ATOM":
            return "hudson.model.labels.LabelAtom"
        return "hudson.model.labels.LabelExpression$" + {
            "NOT": "Not", "PAREN": "Paren", "AND": "And", "OR": "Or",
            "IMPLIES": "Implies", "IFF": "Iff"}[self.kind]

    def matches(self, atoms):
        k = self.kind
        if k == "ATOM":
            return self.name in atoms
        if k == "NOT":
            return not self.a.matches(atoms)
        if k == "PAREN":
            return self.a.matches(atoms)
        x, y = self.a.matches(atoms), self.b.matches(atoms)   # Binary evaluates both sides
        if k == "AND":
            return x and y
        if k == "OR":
            return x or y
        if k == "IMPLIES":
            return (not x) or y
        return x == y

    def atoms(self):
        if self.kind == "ATOM":
            return {self.name}
        r = set(self.a.atoms())
        if self.b is not None:
            r |= self.b.atoms()
        return r


def paren(op, label):
    if op < label.precedence():
        return "(" + label.expression() + ")"
    return label.expression()


class LabelSyntaxError(ValueError):
    pass


def lex_label(s):
    toks, i, n = [], 0, len(s)
    while i < n:
        c = s[i]
        if c in " \t":
            i += 1
        elif s.startswith("&&", i):
            toks.append(("AND", None)); i += 2
        elif s.startswith("||", i):
            toks.append(("OR", None)); i += 2
        elif s.startswith("<->", i):
            toks.append(("IFF", None)); i += 3
        elif s.startswith("->", i):
            toks.append(("IMPLIES", None)); i += 2
        elif c == "!":
            toks.append(("NOT", None)); i += 1
        elif c == "(":
            toks.append(("LPAREN", None)); i += 1
        elif c == ")":
            toks.append(("RPAREN", None)); i += 1
        elif c == '"':
            j = i + 1
            while j < n and s[j] != '"':
                if s[j] in "\r\n":
                    raise LabelSyntaxError("token recognition error at: '%s'" % s[i:j + 1])
                if s[j] == "\\":
                    if j + 1 >= n or s[j + 1] not in "btnfr\"'\\":
                        raise LabelSyntaxError("token recognition error at: '%s'" % s[i:j + 2])
                    j += 2
                    continue
                j += 1
            if j >= n:
                raise LabelSyntaxError("token recognition error at: '%s'" % s[i:])
            toks.append(("STRING", s[i:j + 1])); i = j + 1
        else:
            j = i
            while j < n:
                d = s[j]
                if d == "-":
                    if j + 1 < n and s[j + 1] == ">":
                        break
                    j += 1
                    continue
                if d in "&|!<>() \t\"'":
                    break
                j += 1
            if j == i:
                raise LabelSyntaxError("token recognition error at: '%s'" % c)
            toks.append(("ATOM", s[i:j])); i = j
    toks.append(("EOF", None))
    return toks


def parse_label_expression(s):
    """Label.parseExpression; raises LabelSyntaxError like the ANTLR error listener."""
    toks = lex_label(s)
    pos = [0]

    def peek():
        return toks[pos[0]][0]

    def take(kind):
        t = toks[pos[0]]
        if t[0] != kind:
            raise LabelSyntaxError("mismatched input at token %d (%s), expecting %s" % (pos[0], t[0], kind))
        pos[0] += 1
        return t

    def term1():
        l = term2()
        while peek() == "IFF":
            take("IFF")
            l = Label("IFF", a=l, b=term2())
        return l

    def term2():
        l = term3()
        if peek() == "IMPLIES":     # not chainable
            take("IMPLIES")
            l = Label("IMPLIES", a=l, b=term3())
        return l

    def term3():
        l = term4()
        while peek() == "OR":
            take("OR")
            l = Label("OR", a=l, b=term4())
        return l

    def term4():
        l = term5()
        while peek() == "AND":
            take("AND")
            l = Label("AND", a=l, b=term5())
        return l

    def term5():
        if peek() == "NOT":
            take("NOT")
            return Label("NOT", a=term6())
        return term6()

    def term6():
        k = peek()
        if k == "LPAREN":
            take("LPAREN")
            inner = term1()
            take("RPAREN")
            return Label("PAREN", a=inner)
        if k == "ATOM":
            return Label("ATOM", name=take("ATOM")[1])
        if k == "STRING":
            return Label("ATOM", name=qst_unquote(take("STRING")[1]))
        raise LabelSyntaxError("no viable alternative at token %d (%s)" % (pos[0], k))

    result = term1()
    take("EOF")
    return result


def get_label(expr):
    """Jenkins.getLabel(String): unquote, parse, or laxly take the whole string as one atom."""
    if expr is None:
        return None
    expr = qst_unquote(expr)
    try:
        return parse_label_expression(expr)
    except LabelSyntaxError:
        return Label("ATOM", name=expr)


# --------------------------------------------------------------------------------------------
# Stapler export: @Exported beans, visibility/depth pruning (TreePruner.ByDepth), the tree
# parameter (NamedPathPruner) and "_class" written when the runtime class differs from the
# declared type (ExportConfig ClassAttributeBehaviour.IF_NEEDED), always on the root object.
# --------------------------------------------------------------------------------------------
class P:
    __slots__ = ("name", "value", "vis", "inline", "declared")

    def __init__(self, name, value, vis=1, inline=False, declared="?"):
        self.name, self.value, self.vis, self.inline, self.declared = name, value, vis, inline, declared


class Bean:
    __slots__ = ("cls", "props")

    def __init__(self, cls, props):
        self.cls, self.props = cls, props


class ByDepth:
    def __init__(self, n):
        self.n = n

    def accept(self, prop):
        if prop.vis < self.n:
            return None
        if prop.inline:
            return self
        return ByDepth(self.n + 1)


class Tree:
    def __init__(self):
        self.children = {}
        self.rng = None

    def accept(self, prop):
        return self.children.get(prop.name)


class TreeSyntaxError(ValueError):
    pass


def parse_tree(spec):
    """NamedPathPruner.parse: a,b[c,d]{0,5},e[f[g]]"""
    s = spec.replace(" ", "")
    i = [0]

    def parse_list(node):
        while True:
            j = i[0]
            while i[0] < len(s) and s[i[0]] not in ",[]{}":
                i[0] += 1
            name = s[j:i[0]]
            if not name:
                raise TreeSyntaxError("Syntax error at position %d of tree=%s" % (i[0], spec))
            child = node.children.setdefault(name, Tree())
            if i[0] < len(s) and s[i[0]] == "[":
                i[0] += 1
                parse_list(child)
                if i[0] >= len(s) or s[i[0]] != "]":
                    raise TreeSyntaxError("Unclosed [ in tree=%s" % spec)
                i[0] += 1
            if i[0] < len(s) and s[i[0]] == "{":
                k = s.find("}", i[0])
                if k < 0:
                    raise TreeSyntaxError("Unclosed { in tree=%s" % spec)
                child.rng = parse_range(s[i[0] + 1:k])
                i[0] = k + 1
            if i[0] < len(s) and s[i[0]] == ",":
                i[0] += 1
                continue
            return

    root = Tree()
    if s:
        parse_list(root)
        if i[0] != len(s):
            raise TreeSyntaxError("Syntax error at position %d of tree=%s" % (i[0], spec))
    return root


def parse_range(r):
    """Stapler Range: {M,N} {M,} {,N} {N}."""
    try:
        if "," in r:
            a, b = r.split(",", 1)
            return (int(a) if a else 0, int(b) if b else None)
        n = int(r)
        return (n, n + 1)
    except ValueError:
        raise TreeSyntaxError("bad range {%s}" % r)


def export(value, pruner, declared="?"):
    if callable(value):
        value = value()
    if isinstance(value, Bean):
        out = {}
        if value.cls != declared:
            out["_class"] = value.cls
        for p in value.props:
            child = pruner.accept(p)
            if child is None:
                continue
            v = p.value() if callable(p.value) else p.value
            if isinstance(child, Tree) and child.rng is not None and isinstance(v, list):
                a, b = child.rng
                v = v[a:b]
            out[p.name] = export(v, child, p.declared)
        return out
    if isinstance(value, (list, tuple)):
        return [export(v, pruner, declared) for v in value]
    if isinstance(value, dict):
        return {k: export(v, pruner, declared) for k, v in value.items()}
    return value


def export_root(bean, query):
    tree = query.get("tree")
    if tree is not None:
        pruner = parse_tree(tree)
    else:
        try:
            depth = int(query.get("depth", "0"))
        except ValueError:
            depth = 0
        pruner = ByDepth(1 - depth)
    return export(bean, pruner, declared=None)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
def now_ms():
    return int(time.time() * 1000)


def time_span_string(ms):
    """hudson.Util.getTimeSpanString (English)."""
    def num(x):
        s = ("%.2f" % x).rstrip("0").rstrip(".")
        return s
    minute, hour, day = 60000, 3600000, 86400000
    if ms >= day:
        d, h = ms // day, (ms % day) // hour
        t = "%d day" % d + ("s" if d != 1 else "")
        return t + (" %d hr" % h if d < 10 else "")
    if ms >= hour:
        h, m = ms // hour, (ms % hour) // minute
        return "%d hr" % h + (" %d min" % m if h < 10 else "")
    if ms >= minute:
        m, s = ms // minute, (ms % minute) // 1000
        return "%d min" % m + (" %d sec" % s if m < 10 else "")
    secs = ms // 1000
    if secs >= 10:
        return "%d sec" % secs
    if secs >= 1:
        return num(secs + ((ms % 1000) // 100) / 10.0) + " sec"
    if ms >= 100:
        return num((ms // 10) / 100.0) + " sec"
    return "%d ms" % ms


class Executor:
    def __init__(self, number):
        self.number = number
        self.build = None


class OfflineCause:
    def __init__(self, cls, reason, description, icon="symbol-computer-offline"):
        self.cls, self.reason, self.description = cls, reason, description
        self.icon = icon
        self.timestamp = now_ms()


class NodeRec:
    """A Node plus its Computer (SlaveComputer, or the built-in MasterComputer)."""

    def __init__(self, name, definition, builtin=False):
        self.name = name
        self.builtin = builtin
        self.definition = definition
        self.description = definition.get("nodeDescription") or ""
        self.remote_fs = definition.get("remoteFS") or ""
        self.num_executors = int(definition.get("numExecutors", 1))
        self.mode = definition.get("mode") or "NORMAL"
        self.label_string = definition.get("labelString") or ""
        self.launcher = definition.get("launcher") or {}
        self.executors = [Executor(i) for i in range(self.num_executors)]
        self.created_at = time.time()
        self.deleted_at = None
        self.deleted = False
        self.channel = None
        self.connecting = False
        self.offline_cause = None
        self.temp_offline_cause = None
        self.num_retry_attempt = 0
        self.log_lines = []
        self.launches = []
        self.stop = threading.Event()
        self.launch_thread = None
        self.build_ids = []

    @property
    def display_name(self):
        """Computer.getDisplayName()."""
        return BUILTIN_DISPLAY_NAME if self.builtin else self.name

    @property
    def node_display_name(self):
        """Node.getDisplayName(): Jenkins.getDisplayName() is "Jenkins" for the built-in node."""
        return "Jenkins" if self.builtin else self.name

    def assigned_labels(self):
        """Node.getAssignedLabels: Label.parse(labelString) + getSelfLabel(), a sorted TreeSet."""
        atoms = set(qst_tokenize(self.label_string))
        atoms.add(BUILTIN_LABEL if self.builtin else self.name)
        return atoms

    def is_offline(self):
        if self.builtin:
            return self.temp_offline_cause is not None
        return self.temp_offline_cause is not None or self.channel is None

    def offline_cause_now(self):
        return self.temp_offline_cause or self.offline_cause

    def count_idle(self):
        return sum(1 for e in self.executors if e.build is None)

    def log(self, text):
        for line in str(text).split("\n"):
            self.log_lines.append(line)


class Job:
    def __init__(self, name, pipeline):
        self.name = name
        self.pipeline = pipeline
        self.next_number = 1
        self.runs = []
        self.label = None
        self.concurrent = pipeline

    @property
    def cls(self):
        return CLS_WORKFLOW_JOB if self.pipeline else CLS_FREESTYLE


class Build:
    """One queue item and, once started, its run."""

    def __init__(self, qid, job, label_expr, steps, pipeline, env):
        self.id = qid
        self.job = job
        self.label_expr = label_expr
        self.label = get_label(label_expr) if label_expr else None
        self.steps = [{"cmd": s, "output": "", "exit_code": None, "started_at": None,
                       "finished_at": None} for s in steps]
        self.pipeline = pipeline
        self.env = env or {}
        self.state = "queued"
        self.phase = "buildable"       # waiting, blocked, buildable, left
        self.number = None
        self.node = None
        self.executor = None
        self.queued_at = time.time()
        self.in_queue_since = now_ms()
        self.buildable_start = now_ms()
        self.waiting_until = None
        self.started_at = None
        self.first_step_at = None
        self.finished_at = None
        self.result = None
        self.transient_causes = None
        self.abort_requested = False
        self.cancelled = False
        self.reason = None

    def record(self):
        return {
            "id": self.id, "name": self.job.name, "number": self.number,
            "label": self.label_expr, "label_name": self.label.name if self.label else None,
            "pipeline": self.pipeline, "state": self.state, "result": self.result,
            "node": (self.node or BUILTIN_LABEL) if self.node is not None else None, "queued_at": self.queued_at, "started_at": self.started_at,
            "first_step_at": self.first_step_at, "finished_at": self.finished_at,
            "reason": self.reason,
            "steps": [dict(s) for s in self.steps],
        }


class Channel:
    def __init__(self, node, master, session, tmpdir, hello):
        self.node = node
        self.master = master
        self.session = session
        self.tmpdir = tmpdir
        self.hello = hello
        self.wlock = threading.Lock()
        self.closed = False

    def send(self, msg):
        data = (json.dumps(msg) + "\n").encode()
        with self.wlock:
            if self.closed:
                return False
            try:
                self.session.stdin.write(data)
                self.session.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def close(self):
        with self.wlock:
            if self.closed:
                return
            self.closed = True
            try:
                self.session.stdin.close()
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------
class Emulator:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.cv = threading.Condition(self.lock)
        self.user = args.user
        self.token = args.token
        self.password = args.password
        self.credentials = {}
        self.tmp = tempfile.mkdtemp(prefix="jenkins-emulator-")
        os.chmod(self.tmp, 0o700)
        for spec in args.credential or []:
            parts = spec.split(":", 2)
            if len(parts) != 3:
                raise SystemExit("--credential wants ID:USERNAME:PRIVATE_KEY_FILE, got %r" % spec)
            cid, uname, keyfile = parts
            dst = os.path.join(self.tmp, "key-" + hashlib.sha1(cid.encode()).hexdigest()[:12])
            shutil.copyfile(keyfile, dst)
            os.chmod(dst, 0o600)
            self.credentials[cid] = {"username": uname, "key": dst}
        self.jar = os.path.abspath(args.jar)
        if not os.path.isfile(self.jar):
            raise SystemExit("--jar %s: no such file" % args.jar)
        self.plugins = [tuple(p.split(":", 1)) for p in (args.plugin or [
            "ssh-slaves:3.1031.v72c6b_883b_869", "trilead-api:2.147.vb_73cc728a_32e"])]
        self.builtin = NodeRec("", {"numExecutors": args.builtin_executors, "mode": "NORMAL",
                                    "nodeDescription": MSG_NODE_DESCRIPTION}, builtin=True)
        self.nodes = {}             # name -> NodeRec (insertion ordered)
        self.all_nodes = []         # every node ever created, for /_emulator/nodes
        self.jobs = {}
        self.builds = {}            # queue id -> Build
        self.next_qid = 1
        self.sessions = {}
        self.session_cookie = "JSESSIONID." + secrets.token_hex(4)
        self.crumb_salt = secrets.token_hex(16)
        self.session_hash = secrets.token_hex(4)
        self.stats = {"nodes_now": 0, "max_nodes_at_once": 0, "nodes_created": 0,
                      "nodes_deleted": 0, "online_now": 0, "max_online_at_once": 0,
                      "launches": 0, "launch_failures": 0, "builds_queued": 0,
                      "builds_started": 0, "builds_finished": 0}
        self.fault = {"mode": "none", "delay_ms": 0}
        self.events_lock = threading.Lock()
        self.events_file = open(args.events, "a", encoding="utf-8")
        self.event_seq = 0
        self.log_file = open(args.log, "a", encoding="utf-8") if args.log else sys.stderr
        self.log_lock = threading.Lock()
        self.procs = set()
        self.procs_lock = threading.Lock()
        self.stopping = threading.Event()
        self.jenkins_server = None
        self.jenkins_thread = None
        self.control_server = None
        self.port = None
        self.conns = set()
        self.conns_lock = threading.Lock()

    # ---- logging and events ------------------------------------------------------------------
    def log(self, msg):
        with self.log_lock:
            try:
                self.log_file.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
                self.log_file.flush()
            except (OSError, ValueError):
                pass

    def event(self, kind, **fields):
        with self.events_lock:
            self.event_seq += 1
            rec = {"seq": self.event_seq, "ts": time.time(), "event": kind}
            rec.update(fields)
            try:
                self.events_file.write(json.dumps(rec) + "\n")
                self.events_file.flush()
            except (OSError, ValueError):
                pass

    def node_log(self, node, text):
        node.log(text)
        for line in str(text).split("\n"):
            self.event("launch_log", node=node.name, line=line)

    # ---- processes ---------------------------------------------------------------------------
    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        with self.procs_lock:
            self.procs.add(p)
        return p

    def reap(self, p):
        with self.procs_lock:
            self.procs.discard(p)

    def kill(self, p, grace=1.0):
        if p is None:
            return
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    p.wait(2)
                except subprocess.TimeoutExpired:
                    pass
        self.reap(p)

    # ---- stats -------------------------------------------------------------------------------
    def update_counts(self):
        st = self.stats
        st["nodes_now"] = len(self.nodes)
        st["max_nodes_at_once"] = max(st["max_nodes_at_once"], st["nodes_now"])
        st["online_now"] = sum(1 for n in self.nodes.values() if n.channel is not None)
        st["max_online_at_once"] = max(st["max_online_at_once"], st["online_now"])

    # ---- computers and labels ------------------------------------------------------------------
    def computers(self):
        """Jenkins.getComputers(): the built-in node always has a Computer; agents with >0 executors."""
        out = [self.builtin]
        out.extend(n for n in self.nodes.values() if n.num_executors > 0)
        return out

    def all_node_objs(self):
        return [self.builtin] + list(self.nodes.values())

    def label_nodes(self, label):
        """Label.getNodes(): the built-in node and every agent whose labels match."""
        return [n for n in self.all_node_objs() if label.matches(n.assigned_labels())]

    @staticmethod
    def has_computer(n):
        return n.builtin or n.num_executors > 0

    def label_is_offline(self, label):
        for n in self.label_nodes(label):
            if self.has_computer(n) and not n.is_offline():
                return False
        return True

    def label_idle(self, label):
        r = 0
        for n in self.label_nodes(label):
            if self.has_computer(n) and (not n.is_offline() or n.connecting):
                r += n.count_idle()
        return r

    def label_total(self, label):
        return sum(len(n.executors) for n in self.label_nodes(label)
                   if self.has_computer(n) and not n.is_offline())

    def label_busy(self, label):
        return sum(len(n.executors) - n.count_idle() for n in self.label_nodes(label)
                   if self.has_computer(n) and not n.is_offline())

    def computerset_idle(self):
        return sum(c.count_idle() for c in self.computers() if not c.is_offline() or c.connecting)

    # ---- queue: Queue.BuildableItem.getCauseOfBlockage and friends ----------------------------
    def why(self, b):
        if b.phase == "left":
            return None
        if b.phase == "waiting":
            return msg_quiet_period(time_span_string(max(0, b.waiting_until - now_ms())))
        if b.phase == "blocked":
            running = [x for x in self.builds.values()
                       if x.job is b.job and x.phase == "left" and x.state == "running"]
            if running:
                return msg_in_progress(running[0].number)
            return "???"
        causes = b.transient_causes
        label = b.label
        if not self.nodes:
            label = None    # "no master/agent. pointless to talk about nodes"
        if label is not None:
            nodes = self.label_nodes(label)
            if self.label_is_offline(label):
                if len(nodes) != 1:
                    if not nodes:   # Label.isEmpty(): no nodes and no clouds
                        return msg_no_nodes(label.name)
                    return msg_all_offline(label.name)
                return msg_node_offline(nodes[0].display_name)
            if causes and self.label_idle(label) > 0:
                return "; ".join(sorted(set(causes)))    # CompositeCauseOfBlockage (TreeMap keys)
            if len(nodes) != 1:
                return msg_waiting_on(label.name)
            return msg_waiting_on(nodes[0].display_name)
        if causes and self.computerset_idle() > 0:
            return "; ".join(sorted(set(causes)))
        return MSG_WAITING

    def estimated_duration(self, job):
        """Job.getEstimatedDuration: mean of the last 3 successful builds, else -1."""
        done = [r for r in job.runs if r.result == "SUCCESS" and r.finished_at][-3:]
        if not done:
            return -1
        return int(sum((r.finished_at - r.started_at) * 1000 for r in done) / len(done))

    def is_stuck(self, b):
        if b.phase != "buildable":
            return False
        if b.label is not None and self.label_is_offline(b.label):
            return True
        d = self.estimated_duration(b.job)
        elapsed = now_ms() - b.buildable_start
        if d >= 0:
            return elapsed > max(d, 60000) * 10
        return elapsed > 24 * 3600 * 1000

    def job_offer_cause(self, node, b):
        """Queue.JobOffer.getCauseOfBlockage -> Node.canTake, then offline / accepting checks."""
        label = b.label
        if label is not None and not label.matches(node.assigned_labels()):
            return msg_label_missing(node.node_display_name, label.name)
        if label is None and node.mode == "EXCLUSIVE":
            return msg_reserved(node.node_display_name)
        if node.is_offline():
            return msg_node_offline(node.display_name)
        return None

    def maintain(self):
        """Queue.maintain(): waiting -> buildable/blocked, blocked -> buildable, then assign."""
        starts = []
        with self.lock:
            queued = sorted((b for b in self.builds.values() if b.phase != "left"), key=lambda b: b.id)
            t = now_ms()
            for b in queued:
                if b.phase == "waiting" and b.waiting_until <= t:
                    b.phase = "blocked" if self.build_blocked(b) else "buildable"
                    b.buildable_start = t
                elif b.phase == "blocked" and not self.build_blocked(b):
                    b.phase = "buildable"
            for b in queued:
                if b.phase != "buildable":
                    continue
                if self.build_blocked(b):
                    b.phase = "blocked"
                    continue
                candidate, reasons = None, []
                for node in self.computers():
                    for ex in node.executors:
                        if ex.build is not None:
                            continue
                        why = self.job_offer_cause(node, b)
                        if why is None:
                            candidate = (node, ex)
                            break
                        reasons.append(why)
                    if candidate:
                        break
                if candidate is None:
                    b.transient_causes = reasons or None
                    continue
                node, ex = candidate
                starts.append(self.start_build(b, node, ex))
        for node, msg in starts:
            ok = node.channel.send(msg) if node.channel else False
            if not ok:
                self.log("could not send build %s to %s" % (msg["build"], node.name))

    def build_blocked(self, b):
        """AbstractProject.getCauseOfBlockage: a non-concurrent job with a build in progress."""
        if b.job.concurrent:
            return False
        return any(x is not b and x.job is b.job and x.phase == "left" and x.state == "running"
                   for x in self.builds.values())

    def start_build(self, b, node, ex):
        job = b.job
        b.number = job.next_number
        job.next_number += 1
        job.runs.append(b)
        b.phase = "left"
        b.state = "running"
        b.started_at = time.time()
        b.node = node.name
        b.executor = ex.number
        b.transient_causes = None
        ex.build = b
        node.build_ids.append(b.id)
        self.stats["builds_started"] += 1
        self.event("build_started", id=b.id, name=job.name, number=b.number, node=node.name)
        base = self.base_url()
        env = {
            "BUILD_ID": str(b.number), "BUILD_NUMBER": str(b.number),
            "BUILD_TAG": "jenkins-%s-%d" % (job.name, b.number),
            "BUILD_URL": "%s/job/%s/%d/" % (base, urllib.parse.quote(job.name), b.number),
            "JOB_NAME": job.name, "JOB_BASE_NAME": job.name,
            "JOB_URL": "%s/job/%s/" % (base, urllib.parse.quote(job.name)),
            # CoreEnvironmentContributor: the built-in node is "built-in"
            "JENKINS_URL": base + "/", "NODE_NAME": node.name or BUILTIN_LABEL,
            "NODE_LABELS": " ".join(sorted(node.assigned_labels())),
            "EXECUTOR_NUMBER": str(ex.number),
        }
        env.update({str(k): str(v) for k, v in b.env.items()})
        msg = {"type": "build", "build": b.id, "name": job.name, "number": b.number,
               "node": node.name, "workspace_name": job.name,
               "steps": [s["cmd"] for s in b.steps], "env": env}
        return node, msg

    def finish_build(self, b, state, result, reason=None):
        """Called with the lock held."""
        if b.finished_at is not None:
            return
        b.finished_at = time.time()
        b.state = state
        b.result = result
        b.reason = reason
        for n in [self.builtin] + self.all_nodes:
            for ex in n.executors:
                if ex.build is b:
                    ex.build = None
        self.stats["builds_finished"] += 1
        self.event("build_finished", id=b.id, name=b.job.name, number=b.number, node=b.node,
                   state=state, result=result, reason=reason)
        self.cv.notify_all()

    def schedule(self, req):
        name = req.get("name")
        if not isinstance(name, str) or check_good_name(name) is not None:
            raise ValueError("bad job name: %r" % (name,))
        steps = req.get("steps", [])
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            raise ValueError("steps must be a list of strings")
        pipeline = bool(req.get("pipeline", False))
        label = req.get("label")
        if label is not None and not isinstance(label, str):
            raise ValueError("label must be a string")
        if label is not None and java_trim(label) == "":
            label = None
        env = req.get("env") or {}
        quiet = float(req.get("quiet_period", 0))
        with self.lock:
            job = self.jobs.get(name)
            if job is None:
                job = self.jobs[name] = Job(name, pipeline)
            if job.pipeline != pipeline:
                raise ValueError("job %r exists with pipeline=%s" % (name, job.pipeline))
            if "concurrent" in req and not pipeline:
                job.concurrent = bool(req["concurrent"])
            job.label = label
            if not pipeline:
                # Queue.schedule2: an identical queued item of the same task is reused.
                for x in self.builds.values():
                    if x.job is job and x.phase != "left":
                        return x, True
            b = Build(self.next_qid, job, label, steps, pipeline, env)
            self.next_qid += 1
            if quiet > 0:
                b.phase = "waiting"
                b.waiting_until = now_ms() + int(quiet * 1000)
            self.builds[b.id] = b
            self.stats["builds_queued"] += 1
            self.event("build_queued", id=b.id, name=name, label=label,
                       label_name=b.label.name if b.label else None, pipeline=pipeline)
            self.cv.notify_all()
        return b, False

    def abort_build(self, b):
        with self.lock:
            if b.finished_at is not None:
                return
            if b.phase != "left":
                b.phase = "left"
                b.cancelled = True
                self.finish_build(b, "aborted", "ABORTED", "cancelled while queued")
                return
            b.abort_requested = True
            node = self.builtin if b.node == "" else self.nodes.get(b.node)
        if node and node.channel:
            node.channel.send({"type": "abort", "build": b.id})

    # ---- nodes -------------------------------------------------------------------------------
    def create_node(self, name, definition):
        """Called with the lock held, after validation."""
        node = NodeRec(name, definition)
        self.nodes[name] = node
        self.all_nodes.append(node)
        self.stats["nodes_created"] += 1
        self.update_counts()
        self.event("node_created", node=name, definition=definition)
        # RetentionStrategy.Always.start -> Computer.connect(false): launch right away.
        self.start_launch(node)
        self.cv.notify_all()
        return node

    def start_launch(self, node):
        if node.deleted or node.connecting or node.channel is not None:
            return
        launcher = node.definition.get("launcher") or {}
        if (launcher.get("$class") or launcher.get("stapler-class")) == INBOUND_LAUNCHER:
            return
        node.connecting = True
        node.offline_cause = None
        t = threading.Thread(target=Launch(self, node).run, name="launch-" + node.name, daemon=True)
        node.launch_thread = t
        t.start()

    def delete_node(self, node):
        """Jenkins.removeNode: disconnect the computer, interrupt its executors (builds abort)."""
        with self.lock:
            if node.deleted:
                return
            node.deleted = True
            node.deleted_at = time.time()
            node.stop.set()
            self.nodes.pop(node.name, None)
            self.stats["nodes_deleted"] += 1
            for ex in node.executors:
                if ex.build is not None:
                    b = ex.build
                    b.abort_requested = True
                    self.finish_build(b, "aborted", "ABORTED", "node deleted")
            ch = node.channel
            node.channel = None
            self.update_counts()
            self.event("node_deleted", node=node.name)
            self.cv.notify_all()
        if ch is not None:
            threading.Thread(target=self.close_channel, args=(ch, "node deleted"), daemon=True).start()

    def close_channel(self, ch, why):
        ch.close()
        self.kill(ch.session, grace=2.0)
        self.kill(ch.master, grace=2.0)
        shutil.rmtree(ch.tmpdir, ignore_errors=True)

    def channel_reader(self, ch):
        node = ch.node
        stdout = ch.session.stdout
        while True:
            try:
                raw = stdout.readline()
            except (OSError, ValueError):
                raw = b""
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                msg = json.loads(line)
            except ValueError:
                with self.lock:
                    self.node_log(node, line)
                continue
            if isinstance(msg, dict):
                self.on_agent_message(node, msg)
        # Channel closed.
        rc = None
        try:
            rc = ch.session.wait(3)
        except subprocess.TimeoutExpired:
            pass
        with self.lock:
            was_current = node.channel is ch
            if was_current:
                node.channel = None
                for ex in node.executors:
                    if ex.build is not None:
                        b = ex.build
                        if b.abort_requested:
                            self.finish_build(b, "aborted", "ABORTED", "aborted")
                        else:
                            self.finish_build(b, "failed", "FAILURE", "agent channel closed")
                if not node.deleted and not node.builtin:
                    # Computer.disconnect with OfflineCause.ChannelTermination
                    node.offline_cause = OfflineCause(
                        "hudson.slaves.OfflineCause$ChannelTermination",
                        "Connection was broken: java.io.EOFException",
                        "Connection was broken: java.io.EOFException")
                self.update_counts()
                self.event("node_offline", node=node.name, deleted=node.deleted, exit_code=rc)
            if rc is not None:
                self.node_log(node, "Agent JVM has terminated. Exit code=%d" % rc)
            else:
                self.node_log(node, "Agent JVM has not reported exit code before the socket was lost")
            self.node_log(node, sshmsg("ConnectionClosed", ts()))
            self.cv.notify_all()
        self.close_channel(ch, "channel closed")

    def on_agent_message(self, node, msg):
        kind = msg.get("type")
        with self.lock:
            b = self.builds.get(msg.get("build")) if "build" in msg else None
            if kind == "pong":
                return
            if b is None:
                return
            step = msg.get("step")
            st = b.steps[step] if isinstance(step, int) and 0 <= step < len(b.steps) else None
            if kind == "step_start" and st is not None:
                st["started_at"] = time.time()
                if b.first_step_at is None:
                    b.first_step_at = st["started_at"]
                self.event("build_step_started", id=b.id, step=step, cmd=st["cmd"])
            elif kind == "output":
                data = msg.get("data", "")
                if st is not None:
                    if len(st["output"]) < 4 << 20:
                        st["output"] += data
                elif data:
                    b.reason = (b.reason or "") + data
            elif kind == "step_end" and st is not None:
                st["exit_code"] = msg.get("exit_code")
                st["finished_at"] = time.time()
                self.event("build_step_finished", id=b.id, step=step, exit_code=st["exit_code"])
            elif kind == "build_end":
                result = msg.get("result", "FAILURE")
                if b.abort_requested:
                    result = "ABORTED"
                state = {"SUCCESS": "succeeded", "ABORTED": "aborted"}.get(result, "failed")
                self.finish_build(b, state, result)

    def retention_loop(self):
        """ComputerRetentionWork (every 60 s) -> RetentionStrategy.Always.check -> tryReconnect."""
        period = self.args.retention_period
        while not self.stopping.wait(period):
            self.retention_check()

    def retention_check(self):
        with self.lock:
            for node in list(self.nodes.values()):
                if node.channel is None and not node.connecting and not node.deleted:
                    node.num_retry_attempt += 1
                    n = node.num_retry_attempt
                    if n < 6 or n % 12 == 0:
                        self.event("launch_retry", node=node.name, attempt=n)
                        self.start_launch(node)

    def scheduler_loop(self):
        while not self.stopping.is_set():
            try:
                self.maintain()
            except Exception:       # never let the queue die
                self.log("maintain failed:\n" + traceback.format_exc())
            with self.lock:
                self.cv.wait(0.1)

    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def start_builtin_agent(self):
        """Builds given to the built-in node run in a local stand-in agent (the controller's own JVM in Jenkins)."""
        node = self.builtin
        wd = os.path.join(self.tmp, "built-in")
        os.makedirs(wd, exist_ok=True)
        proc = self.popen(["java", "-jar", self.jar, "-workDir", wd], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = proc.stdout.readline()
        try:
            hello = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            raise SystemExit("the built-in node's stand-in agent did not start: %r" % line)
        node.remote_fs = wd
        node.channel = Channel(node, None, proc, os.path.join(self.tmp, "built-in-unused"), hello)
        threading.Thread(target=self.channel_reader, args=(node.channel,), name="channel-built-in",
                         daemon=True).start()

    # ---- shutdown ----------------------------------------------------------------------------
    def shutdown(self):
        self.stopping.set()
        for srv in (self.jenkins_server, self.control_server):
            if srv is not None:
                try:
                    srv.shutdown()
                    srv.server_close()
                except OSError:
                    pass
        with self.lock:
            for n in self.nodes.values():
                n.stop.set()
                if n.channel:
                    n.channel.close()
        with self.procs_lock:
            procs = list(self.procs)
        for p in procs:
            self.kill(p, grace=1.0)
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The launcher: hudson.plugins.sshslaves.SSHLauncher.launch(), with OpenSSH.
# --------------------------------------------------------------------------------------------
class LaunchAbort(Exception):
    pass


class AbortException(Exception):
    """hudson.AbortException: message printed as is (no stack trace)."""


def host_key_algorithms(key_type):
    """The algorithms OpenSSH may negotiate to verify a host key of this type."""
    if key_type == "ssh-rsa":
        return "rsa-sha2-512,rsa-sha2-256"
    return key_type


def parse_host_key(key):
    """ManuallyProvidedKeyVerificationStrategy.parseKey: 'algorithm base64 [comment]'."""
    if not isinstance(key, str) or " " not in key:
        raise ValueError("Key should be 2 parts: algorithm and Base 64 encoded key value.")
    parts = key.split()
    if len(parts) < 2:
        raise ValueError("Key should be 2 parts: algorithm and Base 64 encoded key value.")
    alg, b64 = parts[0], parts[1]
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The value part of the key should be a Base64 encoded value.")
    if len(blob) < 4:
        raise ValueError("Key value does not parse into a valid %s key" % alg)
    n = int.from_bytes(blob[:4], "big")
    if blob[4:4 + n].decode("latin-1") != alg:
        raise ValueError("Key value does not parse into a valid %s key" % alg)
    return alg, b64


def java_number_prefix(s):
    """NumberFormat.getNumberInstance(Locale.US).parse: the leading number of '21.0.5'."""
    m = re.match(r"[0-9][0-9,]*(\.[0-9]+)?", s)
    if not m:
        raise ValueError(s)
    return float(m.group(0).replace(",", ""))


def java_connect_message(text, host, timeout):
    """What the plugin logs (the cause's getMessage()) for a failed trilead connect, from OpenSSH's complaint."""
    if not text:
        return "connect timed out"
    if "Connection refused" in text:
        return "Connection refused"
    if "Connection reset" in text:
        return "Connection reset"
    if "timed out" in text:
        return "connect timed out"
    if "No route to host" in text:
        return "No route to host"
    if "Could not resolve hostname" in text or "Name or service not known" in text:
        return host + ": Name or service not known"
    if "kex_exchange_identification" in text or "banner exchange" in text:
        return "Premature connection close"
    if "no matching host key type" in text:
        return "Cannot negotiate, proposals do not match."
    if "Connection closed" in text:
        return "Key exchange was not finished, connection is closed."
    return text


class Launch:
    def __init__(self, emu, node):
        self.emu = emu
        self.node = node
        cfg = node.launcher
        self.host = fix_empty_and_trim(cfg.get("host"))
        port = int(cfg.get("port") or 0)
        self.port = 22 if port == 0 else port
        self.credentials_id = cfg.get("credentialsId")
        self.jvm_options = fix_empty_and_trim(cfg.get("jvmOptions")) or ""
        self.java_path = fix_empty_and_trim(cfg.get("javaPath"))
        self.prefix = fix_empty_and_trim(cfg.get("prefixStartSlaveCmd")) or ""
        self.suffix = fix_empty_and_trim(cfg.get("suffixStartSlaveCmd")) or ""
        v = cfg.get("launchTimeoutSeconds")
        self.launch_timeout = DEFAULT_LAUNCH_TIMEOUT_SECONDS if v in (None, "") or int(v) <= 0 else int(v)
        v = cfg.get("maxNumRetries")
        self.max_retries = DEFAULT_MAX_NUM_RETRIES if v in (None, "") or int(v) < 0 else int(v)
        v = cfg.get("retryWaitTime")
        self.retry_wait = DEFAULT_RETRY_WAIT_TIME if v in (None, "") or int(v) < 0 else int(v)
        strat = cfg.get("sshHostKeyVerificationStrategy") or {}
        self.key_alg, self.key_b64 = parse_host_key(strat.get("key"))
        self.master = None
        self.tmpdir = None
        self.ctl = None
        self.session = None
        self.connected = False
        self.conn_created = False
        self.record = {"started_at": time.time(), "finished_at": None, "result": None, "error": None}

    # -- helpers --
    def log(self, text):
        with self.emu.lock:
            self.emu.node_log(self.node, text)

    def check_stop(self):
        if self.node.stop.is_set() or self.emu.stopping.is_set():
            raise LaunchAbort()

    def sleep(self, seconds):
        if self.node.stop.wait(seconds) or self.emu.stopping.is_set():
            raise LaunchAbort()

    def common_opts(self):
        return ["-F", "/dev/null",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                "-i", self.cred["key"],
                "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=" + self.known_hosts,
                "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no",
                "-o", "HostKeyAlgorithms=" + host_key_algorithms(self.key_alg),
                "-o", "PreferredAuthentications=publickey",
                "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
                "-o", "LogLevel=ERROR"]

    def mux_opts(self):
        # Sessions ride on the master connection only; ProxyCommand=false makes sure a dead master
        # is an error instead of a silent new connection.
        return self.common_opts() + ["-o", "ControlMaster=no", "-o", "ControlPath=" + self.ctl,
                                     "-o", "ProxyCommand=/bin/false"]

    def check_connection(self):
        self.check_stop()
        if self.master is None or self.master.poll() is not None:
            self.last_error = "the SSH connection closed during the launch"
            raise AbortException("java.io.IOException: Sorry, this connection is closed.")

    def exec(self, command, timeout=None):
        """com.trilead.ssh2.Connection.exec(cmd, out): stdout and stderr into one stream."""
        self.check_connection()
        argv = ["ssh"] + self.mux_opts() + ["-p", str(self.port), "-l", self.cred["username"],
                                            self.host, command]
        p = self.emu.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=timeout or max(self.launch_timeout, 30))
        except subprocess.TimeoutExpired:
            self.emu.kill(p)
            raise IOError("command timed out: " + command)
        finally:
            self.emu.reap(p)
        return p.returncode, out.decode("utf-8", "replace")

    def sftp(self, commands):
        self.check_connection()
        batch = os.path.join(self.tmpdir, "batch")
        with open(batch, "w", encoding="utf-8") as f:
            f.write("\n".join(commands) + "\n")
        argv = ["sftp"] + self.mux_opts() + ["-P", str(self.port), "-b", batch,
                                             self.cred["username"] + "@" + self.host]
        p = self.emu.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=max(self.launch_timeout, 60))
        except subprocess.TimeoutExpired:
            self.emu.kill(p)
            raise IOError("sftp timed out")
        finally:
            self.emu.reap(p)
        return p.returncode, out.decode("utf-8", "replace")

    @staticmethod
    def sq(path):
        """Quote a path for an sftp batch file."""
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'

    # -- SSHLauncher.launch --
    def run(self):
        node, emu = self.node, self.emu
        t0 = time.time()
        with emu.lock:
            node.launches.append(self.record)
            emu.stats["launches"] += 1
            emu.event("launch_started", node=node.name, attempt=len(node.launches))
        ok = False
        error = None
        try:
            ok = self.launch()
        except LaunchAbort:
            error = "aborted: node deleted or emulator stopping"
        except AbortException as e:
            error = str(e)
            self.log(str(e))
        except Exception as e:   # SSHLauncher: RuntimeException/Error -> UnexpectedError
            error = "%s: %s" % (type(e).__name__, e)
            self.log("ERROR: " + sshmsg("UnexpectedError"))
            self.log("java.lang.%s: %s" % (type(e).__name__, e))
            emu.log("launch of %s crashed:\n%s" % (node.name, traceback.format_exc()))
        duration = int((time.time() - t0) * 1000)
        if ok:
            emu.log(sshmsg("LaunchCompletedDuration", ts(), node.name, self.host, duration))
            return
        emu.log(sshmsg("LaunchFailedDuration", ts(), node.name, self.host, duration))
        if self.conn_created and not (error or "").startswith("aborted"):
            # SSHLauncher.launch: the callable returned false -> cleanupConnection(listener)
            self.log(ts() + " Launch failed - cleaning up connection")
            self.log(sshmsg("ConnectionClosed", ts()))
        self.cleanup()
        with emu.lock:
            node.connecting = False
            self.record["finished_at"] = time.time()
            aborted = error is not None and error.startswith("aborted")
            self.record["result"] = "aborted" if aborted else "failed"
            self.record["error"] = error or self.last_error
            if not node.deleted:
                node.offline_cause = OfflineCause("hudson.slaves.OfflineCause$LaunchFailed",
                                                  MSG_LAUNCH_FAILED, MSG_LAUNCH_FAILED)
            if not aborted:
                emu.stats["launch_failures"] += 1
            emu.event("launch_failed", node=node.name, error=self.record["error"], aborted=aborted)
            emu.cv.notify_all()

    last_error = None

    def cleanup(self):
        self.emu.kill(self.session)
        self.emu.kill(self.master)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def log_configuration(self):
        """SSHLauncher.logConfiguration()."""
        return ("SSHLauncher{host='%s', port=%d, credentialsId='%s', jvmOptions='%s', javaPath='%s', "
                "prefixStartSlaveCmd='%s', suffixStartSlaveCmd='%s', launchTimeoutSeconds=%d, "
                "maxNumRetries=%d, retryWaitTime=%d, sshHostKeyVerificationStrategy=%s, "
                "tcpNoDelay=true, trackCredentials=true}") % (
            self.host, self.port, self.credentials_id or "", self.jvm_options, self.java_path or "",
            self.prefix, self.suffix, self.launch_timeout, self.max_retries, self.retry_wait,
            MANUAL_KEY_STRATEGY)

    def launch(self):
        node, emu = self.node, self.emu
        self.cred = emu.credentials.get(self.credentials_id)
        # checkConfig(): SSHConnector/SSHLauncher descriptor validations.
        if self.cred is None:
            self.last_error = "credentials %r not found" % self.credentials_id
            raise AbortException("Validate configuration:\n" + sshmsg("SelectedCredentialsMissing"))
        if not self.host:
            self.last_error = "no host"
            raise AbortException("Validate configuration:\nThe Host must be specified")
        wd = node.remote_fs
        while wd.endswith("/"):
            wd = wd[:-1]
        self.log(self.log_configuration())
        self.conn_created = True
        self.tmpdir = tempfile.mkdtemp(prefix="launch-", dir=emu.tmp)
        self.ctl = os.path.join(self.tmpdir, "ctl")
        self.known_hosts = os.path.join(self.tmpdir, "known_hosts")
        pattern = self.host if self.port == 22 else "[%s]:%d" % (self.host, self.port)
        with open(self.known_hosts, "w") as f:
            f.write("%s %s %s\n" % (pattern, self.key_alg, self.key_b64))
        self.log(sshmsg("OpeningSSHConnection", ts(), "%s:%d" % (self.host, self.port)))
        auth_failed = self.open_connection()
        if not self.connected and not auth_failed:
            # The plugin goes on to authenticate an unconnected trilead Connection.
            self.last_error = self.last_error or "could not connect"
            self.log("ERROR: " + sshmsg("UnexpectedError"))
            self.log("java.lang.IllegalStateException: Connection is not established!")
            return False
        if auth_failed:
            self.log(sshmsg("AuthenticationFailed", ts()))
            self.last_error = "authentication failed"
            raise AbortException(sshmsg("AuthenticationFailedException"))
        self.log(sshmsg("AuthenticationSuccessful", ts()))
        self.verify_no_header_junk()
        self.report_environment()
        if self.java_path:
            java = self.java_path     # expandExpression(): no node/global env properties here
        else:
            java = self.resolve_java(wd)
        self.copy_agent_jar(wd)
        return self.start_agent(java, wd)

    def open_connection(self):
        """The connect loop of SSHLauncher.openConnection: maxNumRetries+1 attempts, retryWaitTime apart.

        Returns True when the connection was made but authentication failed."""
        for i in range(self.max_retries + 1):
            self.check_stop()
            kind, message = self.connect_master()
            if kind == "ok":
                self.connected = True
                return False
            if kind == "auth":
                self.connected = True
                return True
            self.last_error = message
            self.log(message)
            if self.max_retries - i > 0:
                self.log('SSH Connection failed with IOException: "%s", retrying in %d seconds. '
                         'There are %d more retries left.' % (message, self.retry_wait, self.max_retries - i))
            self.sleep(self.retry_wait)
        return False

    def connect_master(self):
        self.emu.kill(self.master)
        self.master = None
        try:
            os.unlink(self.ctl)
        except FileNotFoundError:
            pass
        errfile = os.path.join(self.tmpdir, "master.err")
        argv = (["ssh"] + self.common_opts() +
                ["-N", "-M", "-S", self.ctl, "-o", "ControlPersist=no",
                 "-o", "ConnectTimeout=%d" % self.launch_timeout, "-o", "ConnectionAttempts=1",
                 # Stands in for remoting's ChannelPinger (Jenkins: every 300 s, 240 s timeout),
                 # so that a vanished agent is noticed: --ping-interval seconds, 3 misses.
                 "-o", "ServerAliveInterval=%d" % self.emu.args.ping_interval,
                 "-o", "ServerAliveCountMax=3", "-o", "TCPKeepAlive=yes",
                 "-p", str(self.port), "-l", self.cred["username"], self.host])
        with open(errfile, "wb") as err:
            self.master = self.emu.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err)
        # connect timeout = launchTimeout, key exchange timeout = launchTimeout + 5 s
        deadline = time.time() + self.launch_timeout + 5
        check = (["ssh", "-F", "/dev/null", "-S", self.ctl, "-o", "LogLevel=ERROR", "-O", "check",
                  "-p", str(self.port), "-l", self.cred["username"], self.host])
        while True:
            if self.master.poll() is not None:
                break
            if os.path.exists(self.ctl):
                try:
                    rc = subprocess.run(check, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, timeout=5).returncode
                except subprocess.TimeoutExpired:
                    rc = 1
                if rc == 0:
                    self.log(sshmsg("KeyTrusted", ts()))
                    return "ok", None
            if time.time() > deadline:
                self.emu.kill(self.master)
                break
            if self.node.stop.wait(0.05):
                raise LaunchAbort()
        self.emu.reap(self.master)
        with open(errfile, "rb") as f:
            err = f.read().decode("utf-8", "replace")
        lines = [l.strip() for l in err.splitlines() if l.strip()]
        text = " ".join(lines)
        self.master = None
        if text:
            self.emu.log("launch %s: ssh: %s" % (self.node.name, text))
        if "Permission denied" in text:
            self.log(sshmsg("KeyTrusted", ts()))
            return "auth", "Permission denied"
        if ("Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text
                or "host key for" in text.lower()):
            # ServerHostKeyVerifierImpl -> ManuallyProvidedKeyVerificationStrategy.verify() is false;
            # trilead then fails the key exchange with this message.
            self.log(sshmsg("KeyNotTrusted", ts()))
            return "hostkey", "Key exchange was not finished, connection is closed."
        return "connect", java_connect_message(text, self.host, self.launch_timeout)

    def verify_no_header_junk(self):
        """SSHLauncher.verifyNoHeaderJunk: exec "exit 0"; any output aborts the launch."""
        rc, out = self.exec("exit 0")
        if len(out) != 0:
            self.log(SSH_MSG["SSHHeaderJunkDetected"])
            self.log(out.rstrip("\n"))
            self.last_error = "header junk: " + out[:200]
            raise AbortException("null")   # new AbortException() has no message: println(null)

    def report_environment(self):
        """SSHLauncher.reportEnvironment: exec "set" into the log."""
        self.log(sshmsg("RemoteUserEnvironment", ts()))
        rc, out = self.exec("set")
        if out:
            self.log(out.rstrip("\n"))

    def resolve_java(self, wd):
        """JavaVersionChecker.resolveJava with DefaultJavaProvider's candidates."""
        candidates = [wd + "/jdk/bin/java", "java", "/usr/bin/java", "/usr/java/default/bin/java",
                      "/usr/java/latest/bin/java", "/usr/local/bin/java", "/usr/local/java/bin/java"]
        for cmd in candidates:
            self.log(sshmsg("CheckingDefaultJava", ts(), cmd))
            rc, out = self.exec(cmd + " " + self.jvm_options + " -version")
            found = None
            for line in out.splitlines():
                low = line.lower()
                if low.startswith('java version "') or low.startswith('openjdk version "'):
                    found = low[low.index('"') + 1:low.rindex('"')]
                    break
            if found is None:
                self.log(sshmsg("UnknownJavaVersion", cmd))
                self.log(out.rstrip("\n"))
                continue
            self.log(sshmsg("JavaVersionResult", ts(), cmd, found))
            try:
                if java_number_prefix(found) < float("1.%d" % MIN_JAVA_LEVEL):
                    continue   # IOException(NoJavaFound2): logged at FINE only, next candidate
            except ValueError:
                continue
            return cmd
        self.last_error = "java not found"
        raise AbortException("java.io.IOException: Java not found on hudson.slaves.SlaveComputer@%x[%s]. "
                             "Install a Java 8 version on the Agent." % (id(self.node) & 0xffffff, self.node.name))

    def copy_agent_jar(self, wd):
        """SSHLauncher.copyAgentJar: SFTP (trilead SFTPClient), SCP if no SFTP client could be made."""
        file_name = wd + "/" + REMOTING_JAR
        self.log(sshmsg("StartingSFTPClient", ts()))
        rc, out = self.sftp(["cd " + self.sq(wd)])
        if rc != 0 and ("subsystem request failed" in out or "Connection closed" in out
                        or "Couldn't read packet" in out):
            self.log("ERROR: " + sshmsg("StartingSCPClient", ts()))
            self.log("java.io.IOException: " + (out.strip().splitlines() or ["sftp failed"])[-1])
            self.copy_agent_jar_scp(wd)
            return
        try:
            if rc != 0:
                if "not a directory" in out.lower():
                    raise IOError(SSH_MSG["RemoteFSIsAFile"].replace("{0}", wd))
                self.log(sshmsg("RemoteFSDoesNotExist", ts(), wd))
                self.mkdirs(wd)
            self.log(sshmsg("CopyingAgentJar", ts()))
            with open(self.emu.jar, "rb") as f:
                jar = f.read()
            local_copy = os.path.join(self.tmpdir, "installed-remoting.jar")
            rc, out = self.sftp(["get " + self.sq(file_name) + " " + self.sq(local_copy)])
            overwrite = True
            if rc == 0 and os.path.exists(local_copy):
                with open(local_copy, "rb") as f:
                    installed = f.read()
                src_hash = hashlib.md5(jar).hexdigest().upper()
                inst_hash = hashlib.md5(installed).hexdigest().upper()
                self.log("Source agent hash is %s. Installed agent hash is %s" % (src_hash, inst_hash))
                overwrite = src_hash != inst_hash
            if overwrite:
                rc, out = self.sftp(["-rm " + self.sq(file_name),
                                     "put " + self.sq(self.emu.jar) + " " + self.sq(file_name)])
                if rc != 0:
                    raise IOError(SSH_MSG["ErrorCopyingAgentJarTo"].replace("{0}", file_name) + ": " + out.strip())
                self.log(sshmsg("CopiedXXXBytes", ts(), len(jar)))
            else:
                self.log("Verified agent jar. No update is necessary.")
        except IOError as e:
            self.last_error = str(e)
            raise AbortException("java.io.IOException: " +
                                 SSH_MSG["ErrorCopyingAgentJarInto"].replace("{0}", wd) +
                                 "\nCaused by: java.io.IOException: " + str(e))

    def mkdirs(self, path):
        """trilead SFTPClient.mkdirs(path, 0700): create missing parents, each with mode 0700."""
        parts = [p for p in path.split("/") if p]
        prefix = ""
        for p in parts:
            prefix += "/" + p
            rc, _ = self.sftp(["cd " + self.sq(prefix)])
            if rc == 0:
                continue
            rc, out = self.sftp(["mkdir " + self.sq(prefix), "chmod 700 " + self.sq(prefix)])
            if rc != 0:
                raise IOError("Failed to mkdir " + prefix + ": " + out.strip())

    def copy_agent_jar_scp(self, wd):
        """SSHLauncher.copySlaveJarUsingSCP (legacy SCP protocol: scp -O)."""
        rc, out = self.exec("test -d " + wd)
        if out:
            self.log(out.rstrip("\n"))
        if rc != 0:
            self.log(sshmsg("RemoteFSDoesNotExist", ts(), wd))
            rc, out = self.exec("mkdir -p " + wd)
            if out:
                self.log(out.rstrip("\n"))
            if rc != 0:
                self.log("Failed to create " + wd)
        self.exec("rm " + wd + "/" + REMOTING_JAR)
        self.log(sshmsg("CopyingAgentJar", ts()))
        local = os.path.join(self.tmpdir, REMOTING_JAR)
        shutil.copyfile(self.emu.jar, local)
        os.chmod(local, 0o644)
        argv = ["scp", "-O", "-q"] + self.mux_opts() + [
            "-P", str(self.port), local, "%s@%s:%s/%s" % (self.cred["username"], self.host, wd, REMOTING_JAR)]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.last_error = "scp failed: " + p.stdout.decode("utf-8", "replace")
            raise AbortException("java.io.IOException: " + SSH_MSG["ErrorCopyingAgentJarInto"].replace("{0}", wd))

    def start_agent(self, java, wd):
        """SSHLauncher.startAgent: the agent command on its own session, stdin/stdout as channel."""
        node, emu = self.node, self.emu
        self.log("Expanded the channel window size to 4MB")
        cmd = 'cd "' + wd + '" && ' + java + " " + self.jvm_options + " -jar " + REMOTING_JAR
        if " -workDir " in self.suffix or " -jar-cache " in self.suffix:
            work_dir_param = ""
        else:
            work_dir_param = " -workDir " + wd + " -jar-cache " + wd + "/remoting/jarCache"
        cmd = self.prefix + cmd + work_dir_param + self.suffix
        self.log(sshmsg("StartingAgentProcess", ts(), cmd))
        self.check_stop()
        argv = ["ssh"] + self.mux_opts() + ["-p", str(self.port), "-l", self.cred["username"],
                                            self.host, cmd]
        self.session = emu.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)

        def copy_stderr(stream):   # session.pipeStderr(listener.getLogger())
            for raw in iter(stream.readline, b""):
                self.log(raw.decode("utf-8", "replace").rstrip("\n"))
        threading.Thread(target=copy_stderr, args=(self.session.stderr,), daemon=True).start()

        hello = {}
        result = {}

        def wait_hello():
            for raw in iter(self.session.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                try:
                    msg = json.loads(line)
                except ValueError:
                    self.log(line)
                    continue
                if isinstance(msg, dict) and msg.get("type") == "hello":
                    hello.update(msg)
                    return
            result["eof"] = True
        t = threading.Thread(target=wait_hello, daemon=True)
        t.start()
        deadline = time.time() + self.launch_timeout
        while t.is_alive() and time.time() < deadline:
            if node.stop.wait(0.05):
                raise LaunchAbort()
        if not hello:
            if t.is_alive():
                self.last_error = "no hello from the agent within %d s" % self.launch_timeout
                raise AbortException("java.io.IOException: agent did not open the channel within %d s"
                                     % self.launch_timeout)
            try:
                rc = self.session.wait(3)
                self.last_error = "agent exited with %d before the channel was up" % rc
                raise AbortException("Agent JVM has terminated. Exit code=%d" % rc)
            except subprocess.TimeoutExpired:
                self.last_error = "agent closed stdout"
                raise AbortException("Agent JVM has not reported exit code. Is it still running?")
        ch = Channel(node, self.master, self.session, self.tmpdir, hello)
        with emu.lock:
            if node.deleted:
                raise LaunchAbort()
            self.log("Remoting version: %s" % hello.get("remoting_version", "?"))
            self.log("Launcher: SSHLauncher")
            self.log("Communication Protocol: Standard in/out")
            self.log("This is a Unix agent")
            self.log("Agent successfully connected and online")
            node.channel = ch
            node.connecting = False
            node.offline_cause = None
            node.num_retry_attempt = 0
            self.record["finished_at"] = time.time()
            self.record["result"] = "online"
            self.record["hello"] = hello
            emu.update_counts()
            emu.event("node_online", node=node.name, java_version=hello.get("java_version"),
                      user=hello.get("user"), work_dir=hello.get("work_dir"))
            emu.cv.notify_all()
        # The channel now owns the processes and the temp dir.
        self.master = self.session = None
        self.tmpdir = None
        threading.Thread(target=emu.channel_reader, args=(ch,), name="channel-" + node.name,
                         daemon=True).start()
        return True


# --------------------------------------------------------------------------------------------
# Beans for the REST API
# --------------------------------------------------------------------------------------------
class Views:
    def __init__(self, emu):
        self.emu = emu
        self.base = emu.base_url()

    def label(self, label):
        """hudson.model.Label (+ LabelAtom.getDescription/getPropertiesList)."""
        emu = self.emu

        def description():
            if label.kind == "ATOM":
                return None       # LabelAtom.getDescription(): the atom's own description
            nodes = emu.label_nodes(label)
            if not nodes:
                return MSG_INVALID_LABEL
            if len(nodes) == 1:
                return nodes[0].description
            s = ""
            for n in nodes:
                if len(s) > 80:
                    s += ",..."
                    break
                s += ("," if s else "") + n.display_name
            return msg_group_of(s)

        props = [
            P("actions", list),
            P("busyExecutors", lambda: emu.label_busy(label)),
            P("clouds", list, declared="hudson.slaves.Cloud"),
            P("description", description),
            P("idleExecutors", lambda: emu.label_idle(label)),
            P("loadStatistics", Bean("hudson.model.Label$1", []), declared="hudson.model.LoadStatistics"),
            P("name", label.name, vis=2),
            P("nodes", lambda: [self.node_bean(n) for n in emu.label_nodes(label)], declared="hudson.model.Node"),
            P("offline", lambda: emu.label_is_offline(label)),
            P("tiedJobs", lambda: [self.job(j) for j in emu.jobs.values()
                                   if not j.pipeline and j.label and get_label(j.label).name == label.name],
              declared="hudson.model.AbstractProject"),
            P("totalExecutors", lambda: emu.label_total(label)),
        ]
        if label.kind == "ATOM":
            props.append(P("propertiesList", list))
        return Bean(label.cls, props)

    def node_bean(self, n):
        """hudson.model.Node exports (DumbSlave, or the built-in node: Hudson)."""
        return Bean("hudson.model.Hudson" if n.builtin else DUMB_SLAVE, [
            P("assignedLabels", lambda: [self.label(Label("ATOM", name=a)) for a in sorted(n.assigned_labels())],
              declared="hudson.model.labels.LabelAtom"),
            P("mode", n.mode),
            P("nodeDescription", n.description),
            P("nodeName", n.name, vis=999),
            P("numExecutors", n.num_executors),
        ])

    def executable(self, b):
        if b.pipeline:
            return Bean(CLS_PLACEHOLDER_EXEC, [])
        url = "%s/job/%s/%d/" % (self.base, urllib.parse.quote(b.job.name), b.number)
        return Bean(CLS_FREESTYLE_BUILD, [
            P("actions", list),
            P("building", b.finished_at is None),
            P("displayName", "#%d" % b.number),
            P("duration", int(((b.finished_at or b.started_at) - b.started_at) * 1000) if b.finished_at else 0),
            P("estimatedDuration", self.emu.estimated_duration(b.job)),
            P("fullDisplayName", "%s #%d" % (b.job.name, b.number)),
            P("id", str(b.number)),
            P("number", b.number, vis=2),
            P("queueId", b.id),
            P("result", b.result),
            P("timestamp", int(b.started_at * 1000)),
            P("url", url, vis=2),
            P("builtOn", b.node),
        ])

    def executor(self, ex, node):
        b = ex.build

        def progress():
            if b is None:
                return -1
            d = self.emu.estimated_duration(b.job)
            if d <= 0:
                return -1
            return min(99, int((time.time() - b.started_at) * 1000 * 100 / d))
        return Bean("hudson.model.Executor", [
            P("currentExecutable", (lambda: self.executable(b)) if b else None, declared="hudson.model.Queue$Executable"),
            P("idle", b is None),
            P("likelyStuck", False),
            P("number", ex.number),
            P("progress", progress),
        ])

    def offline_cause(self, c):
        if c is None:
            return None
        return Bean(c.cls, [P("description", c.description), P("timestamp", c.timestamp)])

    def computer(self, n):
        """hudson.model.Computer / hudson.slaves.SlaveComputer exports."""
        emu = self.emu
        cause = n.offline_cause_now()
        offline = n.is_offline()
        if not offline:
            icon = "symbol-computer"
        elif cause is not None:
            icon = cause.icon
        else:
            icon = "symbol-computer-offline"
        props = [
            P("actions", list),
            P("assignedLabels", lambda: [self.label(Label("ATOM", name=a)) for a in sorted(n.assigned_labels())],
              declared="hudson.model.labels.LabelAtom"),
            P("description", n.description),
            P("displayName", n.display_name),
            P("executors", lambda: [self.executor(e, n) for e in n.executors], declared="hudson.model.Executor"),
            P("icon", icon),
            P("iconClassName", icon),
            P("idle", all(e.build is None for e in n.executors)),
            P("jnlpAgent", False),
            P("launchSupported", True),
            P("loadStatistics", Bean("hudson.model.Label$1", []), declared="hudson.model.LoadStatistics"),
            P("manualLaunchAllowed", True),
            P("monitorData", dict),
            P("numExecutors", n.num_executors),
            P("offline", offline),
            P("offlineCause", lambda: self.offline_cause(cause), declared="hudson.slaves.OfflineCause"),
            P("offlineCauseReason", cause.reason if cause else ""),
            P("oneOffExecutors", list, declared="hudson.model.OneOffExecutor"),
            P("temporarilyOffline", n.temp_offline_cause is not None),
        ]
        if not n.builtin:
            props.append(P("absoluteRemotePath", n.remote_fs if n.channel is not None else None))
        return Bean(CLS_MASTER_COMPUTER if n.builtin else CLS_SLAVE_COMPUTER, props)

    def computer_set(self):
        emu = self.emu
        return Bean("hudson.model.ComputerSet", [
            P("busyExecutors", lambda: sum(len(c.executors) - c.count_idle() for c in emu.computers() if not c.is_offline())),
            P("computer", lambda: [self.computer(c) for c in emu.computers()], inline=True, declared="hudson.model.Computer"),
            P("displayName", "Nodes"),
            P("totalExecutors", lambda: sum(len(c.executors) for c in emu.computers() if not c.is_offline())),
        ])

    def job(self, j):
        url = "%s/job/%s/" % (self.base, urllib.parse.quote(j.name))
        building = any(r.finished_at is None for r in j.runs)
        done = [r for r in j.runs if r.finished_at is not None]
        color = {"SUCCESS": "blue", "FAILURE": "red", "ABORTED": "aborted"}.get(
            done[-1].result if done else None, "notbuilt")
        if building:
            color += "_anime"
        in_queue = any(b.job is j and b.phase != "left" for b in self.emu.builds.values())
        props = [
            P("actions", list),
            P("description", None),
            P("displayName", j.name),
            P("fullDisplayName", j.name),
            P("fullName", j.name),
            P("name", j.name, vis=999),
            P("url", url, vis=999),
            P("buildable", True),
            P("builds", lambda: [self.executable(r) for r in reversed(j.runs)], declared="hudson.model.Run"),
            P("color", color, vis=2),
            P("inQueue", in_queue),
            P("nextBuildNumber", j.next_number),
            P("concurrentBuild", j.concurrent),
        ]
        if not j.pipeline:
            props.append(P("labelExpression", j.label))   # AbstractProject @Exported(name="labelExpression")
        return Bean(j.cls, props)

    def task(self, b):
        if b.pipeline:
            # ExecutorStepExecution.PlaceholderTask is an @ExportedBean with no @Exported property.
            return Bean(CLS_PLACEHOLDER, [])
        return self.job(b.job)

    def queue_item(self, b):
        emu = self.emu
        cls = {"waiting": "hudson.model.Queue$WaitingItem", "blocked": "hudson.model.Queue$BlockedItem",
               "buildable": "hudson.model.Queue$BuildableItem", "left": "hudson.model.Queue$LeftItem"}[b.phase]
        cause = Bean("hudson.model.CauseAction", [P("causes", [Bean("hudson.model.Cause$UserIdCause", [
            P("shortDescription", "Started by user " + emu.user, vis=3),
            P("userId", emu.user, vis=3), P("userName", emu.user, vis=3)])],
            vis=2, declared="hudson.model.Cause")])
        props = [
            P("actions", [] if b.pipeline else [cause], declared="hudson.model.Action"),
            P("blocked", b.phase == "blocked", vis=999),
            P("buildable", b.phase == "buildable", vis=999),
            P("id", b.id, vis=999),
            P("inQueueSince", b.in_queue_since, vis=999),
            P("params", "", vis=999),
            P("stuck", lambda: emu.is_stuck(b), vis=999),
            P("task", lambda: self.task(b), vis=999, declared="hudson.model.Queue$Task"),
            P("url", "queue/item/%d/" % b.id, vis=999),
            P("why", lambda: emu.why(b), vis=999),
        ]
        if b.phase == "waiting":
            props.append(P("timestamp", b.waiting_until, vis=999))
        elif b.phase in ("buildable", "blocked"):
            props.append(P("buildableStartMilliseconds", b.buildable_start, vis=999))
            if b.phase == "buildable":
                props.append(P("pending", False, vis=999))
        else:
            props.append(P("cancelled", b.cancelled, vis=999))
            props.append(P("executable", (lambda: self.executable(b)) if b.number else None,
                           vis=999, declared="hudson.model.Queue$Executable"))
        return Bean(cls, props)

    def queue(self):
        emu = self.emu
        return Bean("hudson.model.Queue", [
            P("discoverableItems", list),
            P("items", lambda: [self.queue_item(b) for b in sorted(
                (x for x in emu.builds.values() if x.phase != "left"), key=lambda x: x.id)],
              inline=True, declared="hudson.model.Queue$Item"),
        ])

    def root(self):
        emu = self.emu
        view = Bean("hudson.model.AllView", [P("name", "all", vis=999), P("url", self.base + "/", vis=999)])
        return Bean("hudson.model.Hudson", [
            P("assignedLabels", lambda: [self.label(Label("ATOM", name=BUILTIN_LABEL))],
              declared="hudson.model.labels.LabelAtom"),
            P("mode", "NORMAL"),
            P("nodeDescription", MSG_NODE_DESCRIPTION),
            P("nodeName", ""),
            P("numExecutors", emu.builtin.num_executors),
            P("description", None),
            P("jobs", lambda: [self.job(j) for j in emu.jobs.values()], declared="hudson.model.TopLevelItem"),
            P("overallLoad", Bean("hudson.model.OverallLoadStatistics", []), declared="hudson.model.OverallLoadStatistics"),
            P("primaryView", view, declared="hudson.model.View"),
            P("quietDownReason", None),
            P("quietingDown", False),
            P("slaveAgentPort", -1),
            P("unlabeledLoad", Bean("jenkins.model.UnlabeledLoadStatistics", []), declared="hudson.model.LoadStatistics"),
            P("url", self.base + "/"),
            P("useCrumbs", True),
            P("useSecurity", True),
            P("views", [view], declared="hudson.model.View"),
        ])


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------
def jetty_error_page(status, message, uri):
    """The page Jetty's ErrorHandler renders for HttpServletResponse.sendError(status, message)."""
    m = html.escape(message)
    return ("<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n"
            "<title>Error %d %s</title>\n</head>\n<body>\n<h2>HTTP ERROR %d %s</h2>\n<table>\n"
            "<tr><th>URI:</th><td>%s</td></tr>\n<tr><th>STATUS:</th><td>%d</td></tr>\n"
            "<tr><th>MESSAGE:</th><td>%s</td></tr>\n<tr><th>SERVLET:</th><td>Stapler</td></tr>\n</table>\n"
            "<hr/><a href=\"https://jetty.org/\">Powered by Jetty:// 12.0.22</a><hr/>\n\n</body>\n</html>\n"
            ) % (status, m, status, m, html.escape(uri), status, m)


REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 500: "Server Error"}


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Jetty(12.0.22)"
    sys_version = ""
    emu = None          # set on the subclass
    control_only = False

    def setup(self):
        super().setup()
        if not self.control_only:
            with self.emu.conns_lock:
                self.emu.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            if not self.control_only:
                with self.emu.conns_lock:
                    self.emu.conns.discard(self.connection)

    def log_message(self, fmt, *args):
        self.emu.log("%s %s" % ("control" if self.control_only else "http", fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    # ---- plumbing ----
    def send(self, status, body=b"", ctype="text/html;charset=utf-8", headers=(), jenkins=True):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response_only(status, REASONS.get(status))
        self.send_header("Date", self.date_time_string())
        self.send_header("Server", self.server_version)
        if jenkins:
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Hudson", "1.395")
            self.send_header("X-Jenkins", JENKINS_VERSION)
            self.send_header("X-Jenkins-Session", self.emu.session_hash)
        for k, v in headers:
            # Jetty writes header values as ISO-8859-1; what does not fit becomes '?'.
            self.send_header(k, v.encode("latin-1", "replace").decode("latin-1"))
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, obj, pretty=False, jenkins=True, status=200, headers=()):
        body = json.dumps(obj, indent=2 if pretty else None, separators=None if pretty else (",", ":"))
        self.send(status, body, "application/json;charset=utf-8", headers=headers, jenkins=jenkins)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def dispatch(self, method):
        try:
            raw_path, _, qs = self.path.partition("?")
            self.raw_path = raw_path
            self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(qs, keep_blank_values=True).items()}
            if raw_path.startswith("/_emulator/") or raw_path == "/_emulator":
                if self.control_only or self.emu.args.control_on_main:
                    return self.control(method, raw_path)
            if self.control_only:
                return self.send_json({"error": "the control API lives under /_emulator/"}, status=404, jenkins=False)
            return self.jenkins(method, raw_path)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            self.emu.log("handler crashed:\n" + traceback.format_exc())
            try:
                self.send(500, "internal emulator error\n", "text/plain", jenkins=False)
            except OSError:
                pass

    # ---- Jenkins ----
    def oops(self):
        body = ("<!DOCTYPE html><html><head><title>Jenkins</title></head><body>"
                "<h1>Oops!</h1><p>A problem occurred while processing the request.</p>"
                "<p>Logging ID=%s</p></body></html>" % secrets.token_hex(16))
        self.send(500, body)

    def params(self, body):
        p = dict(self.query)
        ctype = self.headers.get("Content-Type", "")
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                p[k] = v[-1]
        return p

    def session_id(self, create):
        """Returns (session id, Set-Cookie header or None)."""
        cookies = self.headers.get_all("Cookie") or []
        for c in cookies:
            for part in c.split(";"):
                k, _, v = part.strip().partition("=")
                if k == self.emu.session_cookie:
                    sid = v.split(".")[0]
                    if sid in self.emu.sessions:
                        return sid, None
        if not create:
            return None, None
        sid = "node0" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(26)) + "0"
        self.emu.sessions[sid] = time.time()
        return sid, "%s=%s.node0; Path=/; HttpOnly" % (self.emu.session_cookie, sid)

    def client_ip(self):
        fwd = self.headers.get("X-Forwarded-For")
        if fwd:
            return fwd.split(",")[0]
        return self.client_address[0]

    def crumb(self, user, sid):
        """DefaultCrumbIssuer.issueCrumb: sha256(name;ip;session id, salt)."""
        h = hashlib.sha256()
        h.update(("%s;%s;%s" % (user, self.client_ip(), sid)).encode())
        h.update(self.emu.crumb_salt.encode())
        return h.hexdigest()

    def authenticate(self):
        """BasicHeaderProcessor: returns ('token'|'password'|'anonymous', name) or None after a 401."""
        auth = self.headers.get("Authorization")
        if auth is None or not auth[:6].lower() == "basic ":
            return ("anonymous", "anonymous")
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            user, _, secret = decoded.partition(":")
            if user == self.emu.user:
                if self.emu.token is not None and secret == self.emu.token:
                    return ("token", user)
                if self.emu.password is not None and secret == self.emu.password:
                    return ("password", user)
        # Spring's BasicAuthenticationEntryPoint with realm "Jenkins"
        self.send(401, jetty_error_page(401, "Unauthorized", self.raw_path),
                  headers=[("WWW-Authenticate", 'Basic realm="Jenkins"'), ("Cache-Control", "must-revalidate,no-cache,no-store")],
                  ctype="text/html;charset=iso-8859-1")
        return None

    def anonymous_forbidden(self):
        """HudsonAuthenticationEntryPoint for an anonymous user without Overall/Read."""
        uri = self.raw_path + ("?" + self.path.partition("?")[2] if "?" in self.path else "")
        login = "/login?from=" + urllib.parse.quote(uri, safe="")
        body = ("<html><head><meta http-equiv='refresh' content='1;url=%s'/>"
                "<script>window.location.replace('%s');</script></head>"
                "<body style='background-color:white; color:white;'>\n\n\n"
                "Authentication required\n<!--\n"
                "You are authenticated as: anonymous\nGroups that you are in:\n  anonymous\n"
                "Permission you need to have (but didn't): hudson.model.Hudson.Read\n"
                " ... which is implied by: hudson.security.Permission.GenericRead\n"
                " ... which is implied by: hudson.model.Hudson.Administer\n-->\n\n</body></html>"
                % (login, login)) + " " * 300
        self.send(403, body, headers=[
            ("X-You-Are-Authenticated-As", "anonymous"),
            ("X-You-Are-In-Group-Disabled", "JENKINS-39402: use -Dhudson.security.AccessDeniedException2.REPORT_GROUP_HEADERS=true or use /whoAmI to diagnose"),
            ("X-Required-Permission", "hudson.model.Hudson.Read"),
            ("X-Permission-Implied-By", "hudson.security.Permission.GenericRead"),
            ("X-Permission-Implied-By", "hudson.model.Hudson.Administer"),
        ])

    def failure(self, message, extra_headers=()):
        """hudson.model.Failure -> AbstractModelObject/error.jelly: 400, X-Error, <h1>Error</h1><p>msg</p>."""
        body = ("<!DOCTYPE html><html><head><title>Jenkins</title></head><body>"
                "<div id=\"main-panel\"><h1>Error</h1><p>%s</p></div></body></html>" % html.escape(message, quote=False))
        self.send(400, body, headers=[("X-Error", message)] + list(extra_headers))

    def redirect(self, path):
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.emu.port
        self.send(302, b"", ctype=None, headers=[("Location", "http://%s%s" % (host, path))])

    def not_found(self):
        self.send(404, jetty_error_page(404, "Not Found", self.raw_path), ctype="text/html;charset=iso-8859-1")

    def method_not_allowed(self):
        self.send(405, jetty_error_page(405, "This URL requires POST", self.raw_path), ctype="text/html;charset=iso-8859-1")

    def jenkins(self, method, raw_path):
        emu = self.emu
        fault = dict(emu.fault)
        if fault["mode"] == "slow":
            time.sleep(fault["delay_ms"] / 1000.0)
        if fault["mode"] == "error500":
            self.read_body()
            return self.oops()
        body = self.read_body() if method in ("POST", "PUT") else b""
        auth = self.authenticate()
        if auth is None:
            return
        kind, user = auth
        params = self.params(body)
        set_cookie = []
        if method == "POST" and kind != "token":
            # CrumbFilter (ApiCrumbExclusion lets API-token requests through).
            crumb = self.headers.get("Jenkins-Crumb")
            if crumb is None:
                crumb = params.get("Jenkins-Crumb")
            with emu.lock:
                sid, cookie = self.session_id(create=True)
            if cookie:
                set_cookie.append(("Set-Cookie", cookie))
            if crumb is None or not secrets.compare_digest(crumb, self.crumb(user, sid)):
                return self.send(403, jetty_error_page(403, "No valid crumb was included in the request", raw_path),
                                 headers=set_cookie, ctype="text/html;charset=iso-8859-1")
        if kind == "anonymous":
            return self.anonymous_forbidden()
        try:
            segs = [urllib.parse.unquote(s, errors="strict") for s in raw_path.split("/")[1:]]
        except UnicodeDecodeError:
            return self.not_found()
        while segs and segs[-1] == "":
            segs.pop()
        try:
            return self.route(method, segs, params, user, set_cookie)
        except TreeSyntaxError as e:
            return self.send(500, jetty_error_page(500, str(e), raw_path), ctype="text/html;charset=iso-8859-1")

    def api(self, bean_fn):
        with self.emu.lock:
            data = export_root(bean_fn(), self.query)
        self.send_json(data, pretty=self.query.get("pretty") == "true")

    def html_page(self, title):
        self.send(200, "<!DOCTYPE html><html><head><title>%s [Jenkins]</title></head><body><h1>%s</h1></body></html>"
                  % (html.escape(title), html.escape(title)))

    def computer_by_name(self, name):
        if name in ("(built-in)", "(master)"):
            return self.emu.builtin
        return self.emu.nodes.get(name)

    def route(self, method, segs, params, user, set_cookie):
        emu = self.emu
        v = Views(emu)
        post = method == "POST"
        if segs in ([], ["api", "json"]) or segs == ["api", "json", ""]:
            if not segs:
                return self.html_page("Dashboard")
            return self.api(v.root)
        if segs == ["pluginManager", "api", "json"]:
            # PluginManager.doApi: Jenkins.SYSTEM_READ; the emulator's one user is an
            # administrator. LocalPluginManager exports its PluginWrappers as "plugins".
            def plugins_bean():
                wrappers = [Bean("hudson.PluginWrapper",
                                 [P("active", True), P("enabled", True), P("longName", name),
                                  P("shortName", name), P("version", version)])
                            for name, version in emu.plugins]
                return Bean("hudson.LocalPluginManager",
                            [P("plugins", wrappers, declared="hudson.PluginWrapper")])
            return self.api(plugins_bean)
        if segs == ["crumbIssuer", "api", "json"]:
            with emu.lock:
                sid, cookie = self.session_id(create=True)
            crumb = self.crumb(user, sid)
            bean = Bean("hudson.security.csrf.DefaultCrumbIssuer",
                        [P("crumb", crumb), P("crumbRequestField", "Jenkins-Crumb")])
            data = export_root(bean, self.query)
            hdrs = list(set_cookie) + ([("Set-Cookie", cookie)] if cookie else [])
            return self.send_json(data, headers=hdrs)
        if segs and segs[0] == "computer":
            if len(segs) == 1:
                return self.html_page("Nodes")
            if segs[1:] == ["api", "json"]:
                return self.api(v.computer_set)
            if segs[1] == "doCreateItem" and len(segs) == 2:
                if not post:
                    return self.send(405, jetty_error_page(405, "Method Not Allowed", self.raw_path),
                                     ctype="text/html;charset=iso-8859-1")
                return self.create_item(params)
            with emu.lock:
                node = self.computer_by_name(segs[1])
            if node is None:
                return self.not_found()
            rest = segs[2:]
            if rest == []:
                return self.html_page(node.display_name)
            if rest == ["api", "json"]:
                return self.api(lambda: v.computer(node))
            if rest == ["doDelete"]:
                if not post:
                    return self.method_not_allowed()
                if node.builtin:
                    return self.send(400, "<p>Cannot delete the built-in node</p>")
                emu.delete_node(node)
                return self.redirect("/computer/")           # new HttpRedirect("..")
            if rest in (["changeOfflineCause"], ["toggleOffline"]):
                if not post:
                    return self.method_not_allowed()
                msg = fix_empty_and_trim(params.get("offlineMessage"))
                with emu.lock:
                    if rest == ["toggleOffline"] and node.temp_offline_cause is not None:
                        node.temp_offline_cause = None
                        emu.event("node_temporarily_online", node=node.name)
                    else:
                        node.temp_offline_cause = OfflineCause(
                            "hudson.slaves.OfflineCause$UserCause", msg or "",
                            "Disconnected by %s%s" % (user, " : " + msg if msg else ""),
                            icon="symbol-computer-disconnected")
                        emu.event("node_temporarily_offline", node=node.name, message=msg)
                    emu.update_counts()
                    emu.cv.notify_all()
                return self.redirect("/computer/%s/" % urllib.parse.quote(node.name if not node.builtin else "(built-in)"))
            return self.not_found()
        if segs and segs[0] == "queue":
            if segs[1:] == ["api", "json"]:
                return self.api(v.queue)
            if len(segs) == 5 and segs[1] == "item" and segs[3:] == ["api", "json"]:
                try:
                    qid = int(segs[2])
                except ValueError:
                    return self.not_found()
                with emu.lock:
                    b = emu.builds.get(qid)
                if b is None:
                    return self.not_found()
                return self.api(lambda: v.queue_item(b))
            return self.not_found()
        if segs and segs[0] == "label" and len(segs) >= 2:
            label = get_label(segs[1])
            if segs[2:] == ["api", "json"]:
                return self.api(lambda: v.label(label))
            if segs[2:] == []:
                return self.html_page(label.name)
            return self.not_found()
        if segs and segs[0] == "job" and len(segs) >= 2:
            with emu.lock:
                job = emu.jobs.get(segs[1])
            if job is None:
                return self.not_found()
            if segs[2:] == ["api", "json"]:
                return self.api(lambda: v.job(job))
            if len(segs) == 5 and segs[3:] == ["api", "json"]:
                with emu.lock:
                    run = next((r for r in job.runs if str(r.number) == segs[2]), None)
                if run is None:
                    return self.not_found()
                return self.api(lambda: v.executable(run))
            if segs[2:] == []:
                return self.html_page(job.name)
            return self.not_found()
        return self.not_found()

    def create_item(self, params):
        """ComputerSet.doDoCreateItem."""
        emu = self.emu
        name = fix_empty_and_trim(params.get("name"))
        if name is None:
            return self.failure(MSG_NAME_REQUIRED)
        bad = check_good_name(name)
        if bad is not None:
            return self.failure(bad)
        with emu.lock:
            if name in emu.nodes:
                return self.failure(msg_agent_exists(name))
        # StaplerRequest.getSubmittedForm()
        if "json" not in params:
            return self.send(400, jetty_error_page(400, "This page expects a form submission", self.raw_path),
                             ctype="text/html;charset=iso-8859-1")
        try:
            form = json.loads(params["json"])
            if not isinstance(form, dict):
                raise ValueError("not an object")
        except ValueError:
            # ServletException("Failed to parse JSON:" + json) -> Jenkins' error page, 500
            return self.oops()
        if params.get("type") != DUMB_SLAVE:
            return self.oops()   # NodeDescriptor.all().find(type) == null -> NullPointerException
        form["name"] = name
        err = self.validate_node(form)
        if err is not None:
            return err
        with emu.lock:
            if name in emu.nodes:
                return self.failure(msg_agent_exists(name))
            emu.create_node(name, form)
        return self.redirect("/computer/")          # rsp.sendRedirect2(".")

    def strict(self, message):
        """Emulator-only validation: Jenkins would accept this and fail later (or not at all)."""
        self.failure("Emulator: " + message, extra_headers=[("X-Emulator-Strict", "true")])
        return True

    def validate_node(self, form):
        name = form["name"]
        try:
            n = int(form.get("numExecutors", 1))
        except (TypeError, ValueError):
            return self.oops() or True
        if n <= 0:
            self.failure(msg_invalid_executors(name))
            return True
        form["numExecutors"] = n
        mode = form.get("mode", "NORMAL")
        if mode not in ("NORMAL", "EXCLUSIVE"):
            return self.oops() or True      # enum conversion failure
        for k in ("nodeDescription", "remoteFS", "labelString"):
            if k in form and not isinstance(form[k], str):
                return self.strict("%s must be a string" % k)
        if not fix_empty_and_trim(form.get("remoteFS")):
            return self.strict("remoteFS is required")
        rs = form.get("retentionStrategy")
        if rs is not None:
            cls = rs.get("$class") or rs.get("stapler-class") if isinstance(rs, dict) else None
            if cls != RETENTION_ALWAYS:
                return self.strict("only %s is emulated" % RETENTION_ALWAYS)
        launcher = form.get("launcher")
        if not isinstance(launcher, dict):
            return self.strict("launcher is required (Jenkins would default to an inbound agent)")
        cls = launcher.get("$class") or launcher.get("stapler-class")
        if cls == INBOUND_LAUNCHER:
            return None
        if cls != SSH_LAUNCHER:
            return self.strict("only %s is emulated, got %r" % (SSH_LAUNCHER, cls))
        if not fix_empty_and_trim(launcher.get("host") if isinstance(launcher.get("host"), str) else None):
            return self.strict("launcher.host is required")
        try:
            port = int(launcher.get("port", 22))
            if not 0 <= port < 65536:
                raise ValueError
        except (TypeError, ValueError):
            return self.strict("launcher.port must be a port number")
        if not isinstance(launcher.get("credentialsId"), str) or not launcher.get("credentialsId"):
            return self.strict("launcher.credentialsId is required")
        for k in ("launchTimeoutSeconds", "maxNumRetries", "retryWaitTime"):
            if launcher.get(k) not in (None, ""):
                try:
                    int(launcher[k])
                except (TypeError, ValueError):
                    return self.oops() or True
        strat = launcher.get("sshHostKeyVerificationStrategy")
        scls = (strat.get("$class") or strat.get("stapler-class")) if isinstance(strat, dict) else None
        if scls != MANUAL_KEY_STRATEGY:
            return self.strict("sshHostKeyVerificationStrategy must be %s, got %r" % (MANUAL_KEY_STRATEGY, scls))
        try:
            parse_host_key(strat.get("key"))
        except ValueError as e:
            return self.strict("Invalid key: %s" % e)
        return None

    # ---- control API ----
    def control(self, method, raw_path):
        emu = self.emu
        segs = [urllib.parse.unquote(s) for s in raw_path.split("/")[2:]]
        while segs and segs[-1] == "":
            segs.pop()
        body = self.read_body() if method in ("POST", "PUT") else b""

        def bad(msg, status=400):
            return self.send_json({"error": msg}, status=status, jenkins=False)

        def req_json():
            try:
                return json.loads(body.decode("utf-8") or "{}")
            except ValueError as e:
                raise ValueError("bad JSON body: %s" % e)

        try:
            if segs == ["builds"] and method == "POST":
                b, coalesced = emu.schedule(req_json())
                return self.send_json({"id": b.id, "coalesced": coalesced}, jenkins=False)
            if segs == ["builds"]:
                with emu.lock:
                    data = [b.record() for b in sorted(emu.builds.values(), key=lambda x: x.id)]
                return self.send_json(data, jenkins=False)
            if len(segs) >= 2 and segs[0] == "builds":
                try:
                    qid = int(segs[1])
                except ValueError:
                    return bad("no such build", 404)
                with emu.lock:
                    b = emu.builds.get(qid)
                if b is None:
                    return bad("no such build", 404)
                if segs[2:] == [] and method == "GET":
                    with emu.lock:
                        return self.send_json(b.record(), jenkins=False)
                if segs[2:] == ["abort"] and method == "POST":
                    emu.abort_build(b)
                    with emu.lock:
                        return self.send_json(b.record(), jenkins=False)
                if segs[2:] == ["wait"]:
                    timeout = float(self.query.get("timeout", "60"))
                    want = self.query.get("state")
                    deadline = time.time() + timeout
                    with emu.lock:
                        while True:
                            done = (b.state == want) if want else b.finished_at is not None
                            if done or time.time() >= deadline:
                                break
                            emu.cv.wait(min(0.2, max(0.01, deadline - time.time())))
                        return self.send_json(b.record(), status=200 if done else 408, jenkins=False)
                return bad("unknown build operation", 404)
            if segs == ["stats"]:
                with emu.lock:
                    emu.update_counts()
                    data = dict(emu.stats)
                    data["queue_length"] = sum(1 for b in emu.builds.values() if b.phase != "left")
                return self.send_json(data, jenkins=False)
            if segs == ["nodes"] or (len(segs) == 2 and segs[0] == "nodes"):
                with emu.lock:
                    recs = [self.node_record(n) for n in emu.all_nodes]
                if len(segs) == 2:
                    match = [r for r in recs if r["name"] == segs[1]]
                    if not match:
                        return bad("no such node", 404)
                    return self.send_json(match[-1], jenkins=False)
                return self.send_json(recs, jenkins=False)
            if segs == ["fault"]:
                if method == "POST":
                    req = req_json()
                    mode = req.get("mode", "none")
                    if mode not in ("none", "down", "error500", "slow"):
                        return bad("mode must be none, down, error500 or slow")
                    set_fault(emu, mode, int(req.get("delay_ms", 0)))
                return self.send_json(dict(emu.fault), jenkins=False)
            if segs == ["retention"] and method == "POST":
                emu.retention_check()
                return self.send_json({"ok": True}, jenkins=False)
            if segs == ["events"]:
                since = int(self.query.get("since", "0"))
                out = []
                with emu.events_lock:
                    emu.events_file.flush()
                with open(emu.args.events, encoding="utf-8") as f:
                    for line in f:
                        try:
                            rec = json.loads(line)
                        except ValueError:
                            continue
                        if rec.get("seq", 0) > since:
                            out.append(rec)
                return self.send_json(out, jenkins=False)
            if segs == [] or segs == ["help"]:
                return self.send(200, __doc__ + "\nSee tests/jenkins/README.md\n", "text/plain;charset=utf-8", jenkins=False)
            return bad("unknown control endpoint", 404)
        except ValueError as e:
            return bad(str(e))

    def node_record(self, n):
        cause = n.offline_cause_now()
        if n.deleted:
            state = "deleted"
        elif n.channel is not None:
            state = "online"
        elif n.connecting:
            state = "connecting"
        else:
            state = "offline"
        return {
            "name": n.name, "definition": n.definition, "state": state,
            "created_at": n.created_at, "deleted_at": n.deleted_at,
            "temporarily_offline": n.temp_offline_cause is not None,
            "offline_cause_reason": cause.reason if cause else "",
            "idle": all(e.build is None for e in n.executors),
            "builds": list(n.build_ids),
            "launches": [dict((k, v) for k, v in r.items()) for r in n.launches],
            "launch_log": list(n.log_lines),
        }


def set_fault(emu, mode, delay_ms):
    """'down' closes the Jenkins listening socket (and open connections): clients get ECONNREFUSED."""
    with emu.lock:
        old = emu.fault["mode"]
        emu.fault = {"mode": mode, "delay_ms": delay_ms}
    emu.event("fault", mode=mode, delay_ms=delay_ms)
    if mode == "down" and old != "down":
        srv = emu.jenkins_server
        emu.jenkins_server = None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        with emu.conns_lock:
            conns = list(emu.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    elif mode != "down" and old == "down":
        start_jenkins_server(emu, emu.port)


def start_jenkins_server(emu, port):
    handler = type("JenkinsHandler", (Handler,), {"emu": emu, "control_only": False})
    last = None
    for _ in range(100):
        try:
            srv = QuietServer(("127.0.0.1", port), handler)
            break
        except OSError as e:       # the old socket may linger for a moment
            last = e
            time.sleep(0.05)
    else:
        raise last
    emu.jenkins_server = srv
    emu.port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    emu.jenkins_thread = t
    return srv


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Jenkins emulator for slipway tests (see README.md)")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--control-port-file", help="serve /_emulator/ on its own port (needed for fault mode 'down')")
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--no-control-on-main", dest="control_on_main", action="store_false",
                    help="do not serve /_emulator/ on the Jenkins port")
    ap.add_argument("--user", required=True)
    ap.add_argument("--token")
    ap.add_argument("--password")
    ap.add_argument("--credential", action="append", help="ID:USERNAME:PRIVATE_KEY_FILE")
    ap.add_argument("--jar", required=True, help="the remoting.jar stand-in (build-jar)")
    ap.add_argument("--events", required=True, help="JSON lines of everything that happens")
    ap.add_argument("--log", help="debug log (default: stderr)")
    ap.add_argument("--builtin-executors", type=int, default=0)
    ap.add_argument("--plugin", action="append", metavar="NAME:VERSION",
                    help="an installed plugin as /pluginManager/api/json lists it (default: "
                         "current ssh-slaves and trilead-api)")
    ap.add_argument("--ping-interval", type=int, default=10,
                    help="seconds between keepalives on each agent connection (3 misses close it)")
    ap.add_argument("--retention-period", type=float, default=60.0,
                    help="seconds between RetentionStrategy checks (Jenkins: 60)")
    args = ap.parse_args(argv)
    if args.token is None and args.password is None:
        ap.error("give --token and/or --password")

    emu = Emulator(args)
    start_jenkins_server(emu, args.port)
    if args.control_port_file:
        handler = type("ControlHandler", (Handler,), {"emu": emu, "control_only": True})
        emu.control_server = QuietServer(("127.0.0.1", args.control_port), handler)
        threading.Thread(target=emu.control_server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        write_atomic(args.control_port_file, "%d\n" % emu.control_server.server_address[1])
    if args.builtin_executors > 0:
        emu.start_builtin_agent()
    threading.Thread(target=emu.scheduler_loop, name="queue", daemon=True).start()
    threading.Thread(target=emu.retention_loop, name="retention", daemon=True).start()
    emu.event("started", port=emu.port,
              control_port=emu.control_server.server_address[1] if emu.control_server else None)
    write_atomic(args.port_file, "%d\n" % emu.port)
    emu.log("listening on 127.0.0.1:%d" % emu.port)

    done = threading.Event()

    def on_signal(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not done.wait(0.5):
        pass
    emu.event("stopping")
    emu.shutdown()
    emu.event("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
