// CopyToRemote (and the deprecated CopyFile) over SFTP.
//
// Behaviour of 1.2.1 (provider/pkg/provider/remote/copyController.go), re-implemented:
//   * source = a FileAsset (path), a StringAsset (text) or a FileArchive (a path to a file or
//     a directory; archive files such as .tgz are copied as they are, never unpacked).
//     Other assets/archives (remote URIs, AssetArchive) are rejected by Check;
//   * text: remotePath must not be a directory; parent directories are created;
//   * file: to an existing directory -> copied into it; otherwise to remotePath (parents
//     created), overwriting an existing file;
//   * directory `d` (no trailing "/"): to remotePath/d (created as needed); `d/` copies the
//     *contents* of d into remotePath. A file in the way is an error. Existing files are
//     overwritten, nothing is deleted;
//   * file modes are not copied (new files get the server's default mode), like pkg/sftp's Create;
//   * delete removes nothing from the remote host.
// CopyFile: upload localPath to exactly remotePath (no directory handling, no mkdir).

import * as fs from "node:fs";
import * as path from "node:path";
import type { Client, SFTPWrapper, Stats } from "ssh2";
import type { OpContext } from "./log";
import { connectionFrom, dial } from "./ssh";

const NO_SUCH_FILE = 2;

export type CopySource = { kind: "text"; text: string } | { kind: "path"; path: string };

function openSftp(client: Client): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))));
}

/** stat, with "does not exist" as undefined (pkg/sftp normalises it to os.ErrNotExist). */
function remoteStat(sftp: SFTPWrapper, p: string): Promise<Stats | undefined> {
    return new Promise((resolve, reject) =>
        sftp.stat(p, (err, stats) => {
            if (!err) return resolve(stats);
            if ((err as { code?: number }).code === NO_SUCH_FILE) return resolve(undefined);
            reject(new Error(`failed to stat remote path ${p}: ${err.message}`));
        }),
    );
}

function mkdir(sftp: SFTPWrapper, p: string): Promise<void> {
    return new Promise((resolve, reject) =>
        sftp.mkdir(p, (err) => (err ? reject(new Error(`failed to create remote directory ${p}: ${err.message}`)) : resolve())),
    );
}

async function mkdirAll(sftp: SFTPWrapper, p: string): Promise<void> {
    const st = await remoteStat(sftp, p);
    if (st) {
        if (!st.isDirectory()) throw new Error(`failed to create remote directory ${p}: a file is in the way`);
        return;
    }
    const parent = path.posix.dirname(p);
    if (parent !== p) await mkdirAll(sftp, parent);
    await mkdir(sftp, p);
}

function putFile(sftp: SFTPWrapper, local: string, remote: string): Promise<void> {
    return new Promise((resolve, reject) =>
        sftp.fastPut(local, remote, (err) =>
            err ? reject(new Error(`failed to copy file ${local} to remote path ${remote}: ${err.message}`)) : resolve(),
        ),
    );
}

function putText(sftp: SFTPWrapper, text: string, remote: string): Promise<void> {
    return new Promise((resolve, reject) =>
        sftp.writeFile(remote, text, (err) =>
            err ? reject(new Error(`failed to write text content to remote path ${remote}: ${err.message}`)) : resolve(),
        ),
    );
}

async function copyDir(sftp: SFTPWrapper, src: string, dst: string): Promise<void> {
    const st = await remoteStat(sftp, dst);
    if (!st) await mkdir(sftp, dst);
    else if (!st.isDirectory()) throw new Error(`remote path ${dst} exists but is not a directory`);
    const entries = fs.readdirSync(src, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
        const from = path.join(src, e.name);
        const to = path.posix.join(dst, e.name);
        if (e.isDirectory()) await copyDir(sftp, from, to);
        else await putFile(sftp, from, to);
    }
}

/** The copy itself, once connected. Exported for tests. */
export async function sftpCopy(sftp: SFTPWrapper, source: CopySource, remotePath: string): Promise<void> {
    const destStat = await remoteStat(sftp, remotePath);
    if (source.kind === "text") {
        if (destStat?.isDirectory()) {
            throw new Error(`remote path ${remotePath} is a directory; when using a text asset, remotePath must be a file path`);
        }
        await mkdirAll(sftp, path.posix.dirname(remotePath));
        await putText(sftp, source.text, remotePath);
        return;
    }
    const src = source.path;
    let srcStat: fs.Stats;
    try {
        srcStat = fs.statSync(src);
    } catch {
        throw new Error(`open ${src}: no such file or directory`);
    }
    if (srcStat.isDirectory()) {
        if (destStat && !destStat.isDirectory()) throw new Error(`remote path ${remotePath} exists but is not a directory`);
        if (!destStat) await mkdirAll(sftp, remotePath);
        const dest = src.endsWith("/") ? remotePath : path.posix.join(remotePath, path.basename(src));
        await copyDir(sftp, src, dest);
        return;
    }
    let dest = remotePath;
    if (destStat?.isDirectory()) dest = path.posix.join(remotePath, path.basename(src));
    else if (!destStat) await mkdirAll(sftp, path.posix.dirname(remotePath));
    await putFile(sftp, src, dest);
}

async function withSftp(connection: unknown, ctx: OpContext, f: (sftp: SFTPWrapper) => Promise<void>): Promise<void> {
    const client = await dial(connectionFrom(connection), ctx);
    try {
        const sftp = await openSftp(client);
        try {
            await f(sftp);
        } finally {
            sftp.end();
        }
    } finally {
        client.end();
    }
}

export async function copyToRemote(connection: unknown, source: CopySource, remotePath: string, ctx: OpContext): Promise<void> {
    const host = (connection as { host?: string }).host;
    ctx.log.debug(
        source.kind === "text"
            ? `Creating file: ${host}:${remotePath} from text asset`
            : `Creating file: ${host}:${remotePath} from local file ${source.path}`,
    );
    await withSftp(connection, ctx, (sftp) => sftpCopy(sftp, source, remotePath));
    await ctx.log.flush();
}

export async function copyFile(connection: unknown, localPath: string, remotePath: string, ctx: OpContext): Promise<void> {
    ctx.log.debug(`Creating file: ${(connection as { host?: string }).host}:${remotePath} from local file ${localPath}`);
    if (!fs.existsSync(localPath)) throw new Error(`open ${localPath}: no such file or directory`);
    await withSftp(connection, ctx, (sftp) => putFile(sftp, localPath, remotePath));
    await ctx.log.flush();
}
