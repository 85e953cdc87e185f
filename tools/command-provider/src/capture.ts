// Capturing a command's output the way the 1.2.1 provider does, for local and remote runs:
//   * stdout and stderr are kept separately (the `stdout`/`stderr` outputs, one trailing "\n"
//     trimmed) and interleaved in arrival order (only used in the error message);
//   * the streams selected by `logging` (default: both) go, line by line, to the engine as
//     ephemeral info messages.
// Where 1.2.1 fails a real user, this fails too, after the command ran (see `problem()`):
//   * a logged line over 64 KiB: 1.2.1's log reader (util.LogOutput, a bufio.Scanner with its
//     64 KiB token limit) stops at it, stops draining the pipe, and the command never returns;
//   * stdout or stderr that is not valid UTF-8: the outputs are protobuf strings, so the RPC
//     fails after the command ran and its result is not saved.

import { LineSplitter, type Logger } from "./log";
import type { Logging } from "./schema";

export function logsStdout(logging: Logging | undefined): boolean {
    return logging === undefined || logging === "stdout" || logging === "stdoutAndStderr";
}

export function logsStderr(logging: Logging | undefined): boolean {
    return logging === undefined || logging === "stderr" || logging === "stdoutAndStderr";
}

/** Go's strings.TrimSuffix(s, "\n"): exactly one newline, and only "\n". */
export function trimNewline(s: string): string {
    return s.endsWith("\n") ? s.slice(0, -1) : s;
}

export class OutputCapture {
    private readonly out: Buffer[] = [];
    private readonly err: Buffer[] = [];
    private readonly both: Buffer[] = [];
    private readonly lines: LineSplitter;
    // One decoder per stream: a multi-byte character may be split across chunks of one stream.
    private readonly outDecoder = new TextDecoder("utf-8");
    private readonly errDecoder = new TextDecoder("utf-8");
    // Bytes since the last "\n" of each logged stream, and the longest logged line seen.
    private readonly run = { out: 0, err: 0 };
    private longest = 0;

    constructor(
        log: Logger,
        private readonly logging: Logging | undefined,
    ) {
        this.lines = new LineSplitter((line) => log.status(line));
    }

    stdout(chunk: Buffer): void {
        this.out.push(chunk);
        this.both.push(chunk);
        if (logsStdout(this.logging)) {
            this.measure("out", chunk);
            this.lines.write(this.outDecoder.decode(chunk, { stream: true }));
        }
    }

    stderr(chunk: Buffer): void {
        this.err.push(chunk);
        this.both.push(chunk);
        if (logsStderr(this.logging)) {
            this.measure("err", chunk);
            this.lines.write(this.errDecoder.decode(chunk, { stream: true }));
        }
    }

    private measure(stream: "out" | "err", chunk: Buffer): void {
        let run = this.run[stream];
        for (const b of chunk) {
            if (b === 0x0a) run = 0;
            else if (++run > this.longest) this.longest = run;
        }
        this.run[stream] = run;
    }

    /** Why 1.2.1 would not have returned this result, or undefined (see the module comment). */
    problem(): string | undefined {
        // bufio.MaxScanTokenSize: a line (without its newline) must fit in 64 KiB.
        if (this.longest >= 64 * 1024) {
            return `a logged output line of ${this.longest} bytes: pulumi-command 1.2.1 stops reading its log at a line over 64 KiB and the command never returns; keep logged lines short or set logging`;
        }
        for (const [name, parts] of [["stdout", this.out], ["stderr", this.err]] as const) {
            try {
                new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(parts));
            } catch {
                return `${name} is not valid UTF-8: pulumi-command 1.2.1 fails the RPC after the command ran, and its result is not saved`;
            }
        }
        return undefined;
    }

    /** Flushes the last partial log line. */
    end(): void {
        this.lines.write(this.outDecoder.decode() + this.errDecoder.decode());
        this.lines.end();
    }

    get stdoutText(): string {
        return trimNewline(Buffer.concat(this.out).toString("utf8"));
    }
    get stderrText(): string {
        return trimNewline(Buffer.concat(this.err).toString("utf8"));
    }
    get combinedText(): string {
        return Buffer.concat(this.both).toString("utf8");
    }
}

/**
 * The 1.2.1 failure message: `<cause>: running "<command>":\n<stdout and stderr>`.
 * One deliberate difference: when the command itself is a secret it is not spelt out.
 */
export function runError(cause: string, command: string, commandIsSecret: boolean, combined: string): Error {
    const shown = commandIsSecret ? "[secret]" : JSON.stringify(command);
    return new Error(`${cause}: running ${shown}:\n${combined}`);
}
