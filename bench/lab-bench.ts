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

/** Runs a bench's main: an error is printed and fails the process (each main cleans up in its own finally). */
export function runBench(main: () => Promise<void>): void {
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
