import { LabInventoryHost } from "./lab";

/** The `- name: X` entries of an example stack file's `hardened-hosts:hosts` list. */
export function exampleHostNames(yaml: string): string[] {
    return hostBlocks(yaml.split("\n")).map((b) => b.name);
}

interface HostBlock { name: string; start: number; end: number; indent: string }

function hostBlocks(lines: string[]): HostBlock[] {
    const list = lines.findIndex((l) => /^\s+hardened-hosts:hosts:\s*$/.test(l));
    if (list < 0) throw new Error("the example has no hardened-hosts:hosts list");
    const blocks: HostBlock[] = [];
    for (let i = list + 1; i < lines.length; i++) {
        const l = lines[i]!;
        if (l.trim() === "" || l.trim().startsWith("#")) continue;
        const item = /^(\s+)- name: ([a-z0-9-]+)\s*(#.*)?$/.exec(l);
        if (item) {
            if (blocks.length > 0) blocks[blocks.length - 1]!.end = i;
            blocks.push({ name: item[2]!, start: i, end: lines.length, indent: `${item[1]!}  ` });
        } else if (blocks.length === 0 || !l.startsWith(blocks[blocks.length - 1]!.indent)) {
            if (blocks.length > 0) blocks[blocks.length - 1]!.end = i;
            break; // the list ended
        }
    }
    if (blocks.length === 0) throw new Error("the example's hardened-hosts:hosts list has no `- name:` entries");
    return blocks;
}

/**
 * The example stack file with each host's connection swapped for a lab host's: `address`
 * becomes the lab's 127.0.0.1 and gains the lab port, `user` and `hostKey` become the lab host's
 * where the example sets them (a host the example leaves on the defaults, root and no pinned
 * key, stays on them; a non-root lab user is added). Everything else, tenants, runtimes,
 * comments, stays byte for byte: the test onboards the example as a reader would, only onto
 * hosts that exist. Host i of the example goes to `lab[i]`.
 */
export function swapExampleHosts(yaml: string, lab: LabInventoryHost[]): string {
    const lines = yaml.split("\n");
    const blocks = hostBlocks(lines);
    if (blocks.length > lab.length) throw new Error(`the example has ${blocks.length} hosts, the lab ${lab.length}`);
    const out = lines.slice(0, blocks[0]!.start);
    blocks.forEach(({ name, start, end, indent }, b) => {
        const h = lab[b]!;
        const body = lines.slice(start + 1, end);
        const has = (key: string) => body.some((l) => l.startsWith(`${indent}${key}:`));
        if (!has("address")) throw new Error(`example host ${name} has no address line`);
        const connection = [
            `${indent}address: ${h.address}`,
            `${indent}port: ${h.port}`,
            ...(has("user") || h.user !== "root" ? [`${indent}user: ${h.user}`] : []),
            ...(has("hostKey") ? [`${indent}hostKey: ${h.hostKey}`] : []),
        ];
        // The connection lines take the address line's place; the old port/user/hostKey lines go.
        out.push(lines[start]!, ...body.flatMap((l) => {
            if (l.startsWith(`${indent}address:`)) return connection;
            return ["port", "user", "hostKey"].some((k) => l.startsWith(`${indent}${k}:`)) ? [] : [l];
        }));
    });
    out.push(...lines.slice(blocks[blocks.length - 1]!.end));
    return out.join("\n");
}
