import * as fs from "node:fs";
import * as os from "node:os";
import { TestLab } from "../test/support/lab";

/** The host's clock, as journalctl --since reads it. */
export function hostNow(lab: TestLab, host: string): string {
    return lab.run(host, "date -u '+%Y-%m-%d %H:%M:%S.%N' | cut -c1-23").trim();
}

/**
 * SSH sessions on a host since `since` (sshd's journal), as [open, close] times in seconds. A
 * session still open when the journal is read (the client may close a moment after pulumi exits)
 * ends "now"; the session reading the journal is left out.
 */
export function sshSessions(lab: TestLab, host: string, since: string): [number, number][] {
    const log = lab.run(host, `journalctl -u ssh.service --since '${since}' -o short-unix --no-pager | grep 'pam_unix(sshd:session)' || true; date +%s.%N`);
    const lines = log.trim().split("\n");
    const now = Number(lines.pop());
    const open: number[] = [];
    const out: [number, number][] = [];
    for (const line of lines) {
        const t = Number(line.split(" ")[0]);
        if (line.includes("session opened")) open.push(t);
        else if (line.includes("session closed") && open.length) out.push([open.shift()!, t]);
    }
    open.pop(); // the newest open session is the one reading the journal
    for (const t of open) out.push([t, now]);
    return out;
}

/** Pulumi runs a bench awaits (spawned, not spawnSync'd): stopped first when the bench is stopped. */
const children = new Set<number>();
/** Tracks a child until the returned function is called (when it has exited). */
export function trackChild(pid: number): () => void {
    children.add(pid);
    return () => children.delete(pid);
}

let cleanup: (() => void) | undefined;
let cleaning = false;
/**
 * The bench's cleanup (its stack destroyed, its lab down), run once: by main's `finally`, or by
 * SIGINT/SIGTERM/SIGHUP first (runBench), so a stopped bench leaves no lab hosts running. A
 * signal during a synchronous step is handled when the step returns.
 */
export function cleanupOnce(fn: () => void): () => void {
    let done = false;
    cleanup = () => {
        if (done) return;
        done = true;
        cleaning = true;
        fn();
    };
    return cleanup;
}

/** A child has exited (gone, or a zombie nobody has reaped: the event loop is not running). */
function exited(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
    } catch {
        return true;
    }
}

/** SIGINT to every tracked pulumi (it cancels cleanly, releasing the stack's lock); waits up to 60 s. */
function stopChildren(): void {
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    for (const pid of children) {
        try { process.kill(pid, "SIGINT"); } catch { /* gone */ }
    }
    for (let waited = 0; waited < 60_000 && [...children].some((pid) => !exited(pid)); waited += 200) Atomics.wait(sleeper, 0, 0, 200);
}

/** Runs a bench's main: an error is printed and fails the process; a signal runs its cleanup first. */
export function runBench(main: () => Promise<void>): void {
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.on(sig, () => {
            if (cleaning) {
                console.error(`${sig}: the bench is cleaning up already; that finishes first`);
                return;
            }
            console.error(`${sig}: stopping the bench's pulumi runs, then destroying its stack and taking its lab down`);
            try {
                stopChildren();
                cleanup?.();
            } finally {
                process.exit(128 + os.constants.signals[sig]);
            }
        });
    }
    main().catch((e: unknown) => {
        console.error(e);
        process.exitCode = 1;
    });
}

/** The stack settings of a bench: lab hosts, each with its runtime (YAML flow text), tenant-a. */
export function labStackConfig(inventory: string, hosts: [name: string, runtime: string][]): string {
    return `config:
  hardened-hosts:machines: lab
  hardened-hosts:labInventory: ${inventory}
  hardened-hosts:tenants:
    tenant-a: {}
  hardened-hosts:hosts:
${hosts.map(([h, rt]) => `    - { name: ${h}, runtime: ${rt}, tenants: [tenant-a] }`).join("\n")}
`;
}

/**
 * Where a no-change preview's time goes, from the engine's own log (`-v=7 --logtostderr
 * --logflow`, one JSON object a line with its time): engine start until it launches the
 * language host; node, the SDK and the program's loader until it registers its stack; the program
 * loading its modules until its first resource; the program's registrations; the end of the
 * plan; and each provider plugin's start-up (from its provider's registration to its first answer).
 */
export function previewBreakdown(log: string): string {
    const events: { t: number; msg: string }[] = [];
    for (const line of log.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
            const o = JSON.parse(line) as { time?: string; msg?: string };
            if (o.time && o.msg) events.push({ t: Date.parse(o.time) / 1000, msg: o.msg });
        } catch { /* not a log object */ }
    }
    if (events.length === 0) return "no engine log to read";
    const t0 = events[0]!.t;
    const at = (re: RegExp, last = false) => {
        const hits = events.filter((e) => re.test(e.msg));
        const e = last ? hits[hits.length - 1] : hits[0];
        return e ? e.t - t0 : NaN;
    };
    const lang = at(/Language host launching process/);
    const stack = at(/produced a registration: t=pulumi:pulumi:Stack/);
    const first = at(/produced a registration: t=(?!pulumi:pulumi:Stack)/);
    const last = at(/produced a registration/, true);
    const done = at(/Update\(preview=true\) complete/);
    // A plugin's start-up: from the registration of its provider (default or explicit: when the
    // engine loads it) to its first answer (the handshake the engine tries, naming its path).
    const plugins: string[] = [];
    for (const m of new Set(events.map((e) => /produced a registration: t=pulumi:providers:([^,]+),/.exec(e.msg)?.[1]).filter(Boolean))) {
        const start = at(new RegExp(`produced a registration: t=pulumi:providers:${m},`));
        const ready = events.find((e) => e.t - t0 >= start && e.msg.startsWith("Handshake") && e.msg.includes(`pulumi-resource-${m}`));
        if (ready) plugins.push(`${m} ${(ready.t - t0 - start).toFixed(2)} s (from ${start.toFixed(2)} s)`);
    }
    const s = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? `${(b - a).toFixed(2)} s` : "?");
    return [
        `engine start to language host ${s(0, lang)}`,
        `node + SDK + loader to the stack's registration ${s(lang, stack)}`,
        `program modules to its first resource ${s(stack, first)}`,
        `registrations (first to last) ${s(first, last)}`,
        `plan end ${s(last, done)}`,
        `total ${s(0, done)}`,
        `provider start-up: ${plugins.join(", ") || "none seen"}`,
    ].join("; ");
}
