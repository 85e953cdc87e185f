import { readHostScript } from "../../components/host/script";

// Differential test material (issue #13): whole /etc/passwd, /etc/group, /etc/subuid and
// /etc/subgid files generated from a seed, with the notations, malformed lines, comments,
// blanks and stray whitespace real files carry. A host reads them with its own tools
// (getsubids, getsubids -g, getent -s files) inside a private mount namespace (its real /etc
// is never touched), and subids-host.sh `show` reads the same files with the host's awk;
// compare() lists every answer where the two differ.

/** A generated set of files and the names and IDs the host is asked about. */
export interface Corpus {
    seed: number;
    files: { passwd: string; group: string; subuid: string; subgid: string };
    /** Names asked of getsubids, getsubids -g, getent passwd and getent group. */
    names: string[];
    /** Numbers asked of getent passwd and getent group (by ID). */
    ids: string[];
}

/** mulberry32: a small seeded generator, so a failing corpus can be regenerated from its seed. */
function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Number notations: what strtoul (base 0 for shadow, base 10 for glibc) takes or refuses.
const NUMBER_FORMS: ((n: number) => string)[] = [
    (n) => `${n}`, (n) => `${n}`, (n) => `${n}`, (n) => ` ${n}`, (n) => `\t${n}`, (n) => `+${n}`, (n) => `0${n}`,
    (n) => `0x${n.toString(16)}`, (n) => `0X${n.toString(16).toUpperCase()}`, (n) => `0${n.toString(8)}`,
    (n) => `${n} `, (n) => `${n}x`, (n) => `-${n}`, () => "-0", () => "", () => "0x", () => "08",
    () => "4294967295", () => "4294967296", () => "18446744073709551615", () => "18446744073709551616",
    () => "-18446744073709551615", () => "-4294967295", (n) => `+ ${n}`, (n) => `${n}\r`,
];

/** A corpus from a seed: `users` account names, each with passwd, group and subid lines in many forms. */
export function generateCorpus(seed: number, users = 24): Corpus {
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const chance = (p: number) => r() < p;
    const num = (n: number) => (chance(0.55) ? `${n}` : pick(NUMBER_FORMS)(n));
    const tag = seed.toString(36);
    const names = Array.from({ length: users }, (_, i) => `hc${tag}u${i}`);
    const passwd = ["root:x:0:0:root:/root:/bin/bash"];
    const group = ["root:x:0:"];
    const subuid: string[] = [];
    const subgid: string[] = [];
    const ids = new Set<string>(["0"]);
    const lineForms = (line: string): string => {
        // Whole-line variants: leading blanks, comments, NIS markers, CR, extra fields, length.
        const v = r();
        if (v < 0.06) return ` ${line}`;
        if (v < 0.09) return `\t${line}`;
        if (v < 0.12) return `#${line}`;
        if (v < 0.15) return `+${line}`;
        if (v < 0.17) return `-${line}`;
        if (v < 0.20) return `${line}\r`;
        if (v < 0.23) return `${line}:extra:fields`;
        return line;
    };
    names.forEach((name, i) => {
        const uid = 200000 + Math.floor(r() * 4_000_000);
        const gid = chance(0.5) ? uid : 200000 + Math.floor(r() * 4_000_000);
        ids.add(String(uid)).add(String(gid));
        const pwLines = 1 + (chance(0.2) ? 1 : 0); // sometimes the same name twice
        for (let k = 0; k < pwLines; k++) {
            const u = k === 0 ? uid : uid + 7;
            ids.add(String(u));
            const fields = [name, "x", num(u), chance(0.9) ? num(gid) : "", "", `/home/${name}`, "/bin/sh"];
            const cut = chance(0.1) ? 3 + Math.floor(r() * 2) : fields.length; // short lines
            passwd.push(lineForms(fields.slice(0, cut).join(":")));
        }
        group.push(lineForms([name, "x", num(gid), chance(0.3) ? `${name},other` : ""].slice(0, chance(0.1) ? 3 : 4).join(":")));
        // Subordinate lines owned by the name, its UID or GID, or near-misses of them.
        const owners = [name, name, `${uid}`, `${gid}`, `0${uid}`, ` ${name}`, `${name} `, "", `#${name}`, `+${name}`];
        for (const file of [subuid, subgid]) {
            const count = 1 + Math.floor(r() * 4);
            for (let k = 0; k < count; k++) {
                const start = 100000 + Math.floor(r() * 1_000_000_000);
                const n = chance(0.85) ? 65536 : pick([0, 1, 65535, 4294967295]);
                let line = `${pick(owners)}:${num(start)}:${num(n)}`;
                const v = r();
                if (v < 0.05) line += `:${"x".repeat(1024 - line.length - 1)}`; // 1024 bytes: no entry
                else if (v < 0.10) line += `:${"y".repeat(1023 - line.length - 1)}`; // 1023: an entry
                else if (v < 0.14) line = `${pick(owners)}:${num(start)}`; // two fields
                else if (v < 0.18) line = `${pick(owners)}::${num(n)}`;
                file.push(lineForms(line));
            }
            if (chance(0.3)) file.push("");
            if (chance(0.3)) file.push(`# managed by hand ${i}`);
        }
        if (chance(0.2)) passwd.push(pick(["", "# comment", "   ", `:x:${uid + 3}:1::/:/bin/sh`]));
        if (chance(0.2)) group.push(pick(["", "# comment", `:x:${gid + 3}:`]));
    });
    // Shuffle the subordinate files: order decides what getsubids lists first.
    for (const f of [subuid, subgid]) {
        for (let i = f.length - 1; i > 0; i--) {
            const j = Math.floor(r() * (i + 1));
            [f[i], f[j]] = [f[j]!, f[i]!];
        }
    }
    const text = (ls: string[]) => `${ls.join("\n")}\n`;
    return { seed, files: { passwd: text(passwd), group: text(group), subuid: text(subuid), subgid: text(subgid) }, names, ids: [...ids] };
}

/**
 * A bash script (run as root on the host) that puts the corpus in a copy of /etc bound over /etc
 * in a private mount namespace, asks the host's tools, and runs subids-host.sh show on the same
 * files. Prints "Q<TAB>question<TAB>key<TAB>answer" lines and one "SHOW<TAB><json>" line.
 */
export function differentialScript(c: Corpus): string {
    const script = readHostScript("subids/subids-host.sh"); // the prelude, then the script
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    return [
        "for t in getsubids getent unshare awk; do command -v $t >/dev/null || { echo \"no $t on this host\" >&2; exit 3; }; done",
        "d=$(mktemp -d /tmp/hh-corpus.XXXXXX)",
        "trap 'rm -rf \"$d\"' EXIT",
        "cat > \"$d/subids-host.sh\" <<'HH_SCRIPT_END'", script.trimEnd(), "HH_SCRIPT_END",
        "mkdir \"$d/files\"",
        ...Object.entries(c.files).map(([f, t]) => `printf '%s' ${q(b64(t))} | base64 -d > "$d/files/${f}"`),
        // Ours: the files as subids-host.sh reads them (with the host's own awk).
        "printf 'SHOW\\t%s\\n' \"$(HH_ETC=\"$d/files\" bash \"$d/subids-host.sh\" show)\"",
        // Theirs: the host's tools on the same files, seen as /etc in a private mount namespace.
        "cp -a /etc \"$d/etc\"",
        "for f in passwd group subuid subgid; do cp \"$d/files/$f\" \"$d/etc/$f\"; done",
        `cat > "$d/ask.sh" <<'HH_ASK_END'`,
        "set -u",
        "mount --bind \"$1/etc\" /etc",
        "ans() { tr '\\n' ',' | sed 's/,$//'; }",
        // getent finds an entry it cannot print (a ':' in a member list): "?found".
        "ent() { local out rc=0; out=$(getent -s files \"$1\" \"$2\" 2>/dev/null) || rc=$?; if [ $rc -ne 0 ]; then :; elif [ -z \"$out\" ]; then echo '?found'; else printf '%s\\n' \"$out\" | cut -d: -f\"$3\" | ans; fi; }",
        "for n in " + c.names.map(q).join(" ") + "; do",
        "  printf 'Q\\tsubuid\\t%s\\t%s\\n' \"$n\" \"$(getsubids \"$n\" 2>/dev/null | sed -n 's/^[0-9]*: .* \\([0-9]*\\) \\([0-9]*\\)$/\\1 \\2/p' | ans)\"",
        "  printf 'Q\\tsubgid\\t%s\\t%s\\n' \"$n\" \"$(getsubids -g \"$n\" 2>/dev/null | sed -n 's/^[0-9]*: .* \\([0-9]*\\) \\([0-9]*\\)$/\\1 \\2/p' | ans)\"",
        "  printf 'Q\\tuser\\t%s\\t%s\\n' \"$n\" \"$(ent passwd \"$n\" 3)\"",
        "  printf 'Q\\tgroup\\t%s\\t%s\\n' \"$n\" \"$(ent group \"$n\" 3)\"",
        "done",
        "for i in " + c.ids.join(" ") + "; do",
        "  printf 'Q\\tuid\\t%s\\t%s\\n' \"$i\" \"$(ent passwd \"$i\" 1)\"",
        "  printf 'Q\\tgid\\t%s\\t%s\\n' \"$i\" \"$(ent group \"$i\" 1)\"",
        "done",
        "HH_ASK_END",
        "unshare -m --propagation private bash \"$d/ask.sh\" \"$d\"",
        "printf 'SHADOW\\t%s\\n' \"$(dpkg-query -W -f '${Version}' uidmap 2>/dev/null || echo unknown)\"",
    ].join("\n");
}

interface Shown {
    subuid: [number, string, string, string, number][];
    subgid: [number, string, string, string, number][];
    users: [number, string, number][];
    groups: [number, string, number][];
}

/**
 * Every question where the host's tools and subids-host.sh's reading disagree ([] when none).
 * shadow before 4.14 wraps a negative number, later versions refuse it; subids-host.sh reads such
 * a line as an entry (flagged), so against a later shadow the flagged entries are left out.
 */
export function compare(c: Corpus, output: string): string[] {
    const lines = output.split("\n");
    const showLine = lines.find((l) => l.startsWith("SHOW\t"));
    if (!showLine) throw new Error(`no SHOW line in:\n${output}`);
    const shown = JSON.parse(showLine.slice(5)) as Shown;
    const version = lines.find((l) => l.startsWith("SHADOW\t"))?.slice(7) ?? "unknown";
    if (!/^1:4\.13[^0-9]/.test(version)) {
        shown.subuid = shown.subuid.filter((e) => e[4] === 0);
        shown.subgid = shown.subgid.filter((e) => e[4] === 0);
    }
    const first = (xs: [number, string, number][], name: string) => xs.find((x) => x[1] === name)?.[2];
    const ranges = (entries: Shown["subuid"], owner: string, id: number | undefined) =>
        entries.filter((e) => e[1] === owner || (id !== undefined && e[1] === String(id))).map((e) => `${e[2]} ${e[3]}`).join(",");
    const ours = (question: string, key: string): string => {
        switch (question) {
            case "subuid": return ranges(shown.subuid, key, first(shown.users, key));
            case "subgid": return ranges(shown.subgid, key, first(shown.groups, key));
            case "user": return String(first(shown.users, key) ?? "");
            case "group": return String(first(shown.groups, key) ?? "");
            case "uid": return shown.users.find((u) => String(u[2]) === key)?.[1] ?? "";
            case "gid": return shown.groups.find((g) => String(g[2]) === key)?.[1] ?? "";
            default: throw new Error(`unknown question ${question}`);
        }
    };
    const questions = lines.filter((l) => l.startsWith("Q\t")).map((l) => l.split("\t"));
    const expected = c.names.length * 4 + c.ids.length * 2;
    if (questions.length !== expected) throw new Error(`${questions.length} answers, expected ${expected}:\n${output}`);
    const diffs: string[] = [];
    for (const [, question, key, theirs] of questions) {
        const mine = ours(question!, key!);
        const same = theirs === "?found" ? mine !== "" : mine === (theirs ?? "");
        if (!same) diffs.push(`seed ${c.seed}: ${question} ${JSON.stringify(key)}: host says ${JSON.stringify(theirs)}, subids-host.sh reads ${JSON.stringify(mine)}`);
    }
    return diffs;
}
