/**
 * The absolute path of this platform's `lunasec-tokenizer` binary (from the installed platform
 * package `@lunasec-rs/tokenizer-<platform>`, or `LUNASEC_TOKENIZER_BINARY_PATH`). Throws when it
 * is not installed, naming the platform and the package.
 */
export declare function binaryPath(): string;
/** The platform package for this platform, e.g. `@lunasec-rs/tokenizer-linux-x64-gnu`. */
export declare function platformPackage(): string;
/** This platform's name, e.g. `linux-x64-gnu`. */
export declare function platformKey(): string;
/** The platforms binaries are published for. */
export declare const PLATFORMS: readonly string[];
