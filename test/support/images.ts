// The images `make images` builds, as buildah holds them on a machine without a Docker daemon:
// their configuration, their files, and commands run in them with a loopback-only network.
import path from 'node:path';
import { root, run, type RunResult } from './cluster.js';

export const IMAGE_NAMES = ['controller', 'proxy', 'echo'] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];
export const imageTag = process.env.IMAGE_TAG ?? 'dev';
export const imageRef = (name: ImageName): string => `trellis/${name}:${imageTag}`;

// The builds' own containers.conf (no ulimits raised, runc), as scripts/images.sh sets it.
const env = { ...process.env, CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? path.join(root, 'images/containers.conf') };

export function buildah(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return run('buildah', args, { env, timeoutMs });
}

async function ok(args: string[]): Promise<string> {
  const r = await buildah(args);
  if (r.code !== 0) throw new Error(`buildah ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** `make images` (scripts/images.sh with buildah): builds what changed, or nothing. */
export function buildImages(): Promise<RunResult> {
  return run(path.join(root, 'scripts/images.sh'), [], { env: { ...env, IMAGE_BUILDER: 'buildah', IMAGE_TAG: imageTag }, timeoutMs: 45 * 60_000 });
}

export interface ImageConfig {
  User?: string;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[];
}

export async function imageConfig(ref: string): Promise<ImageConfig> {
  const inspected = JSON.parse(await ok(['inspect', '--type', 'image', ref])) as { OCIv1: { config: ImageConfig } };
  return inspected.OCIv1.config;
}

/** Runs fn with a working container of the image (removed afterwards). */
export async function withContainer<T>(ref: string, fn: (container: string) => Promise<T>): Promise<T> {
  const container = await ok(['from', '--pull=never', '--quiet', ref]);
  try {
    return await fn(container);
  } finally {
    await buildah(['rm', container]);
  }
}

/**
 * argv in a container of the image, as the image's user, in a network namespace of its own that
 * has only a loopback interface.
 */
export function runInImage(ref: string, argv: string[], timeoutMs = 60_000): Promise<RunResult> {
  return withContainer(ref, (c) => buildah(['run', '--network', 'none', c, '--', ...argv], timeoutMs));
}

/** Runs fn with the root filesystem of a container of the image mounted on the host (fn only reads it). */
export function withRootfs<T>(ref: string, fn: (rootfs: string) => Promise<T> | T): Promise<T> {
  return withContainer(ref, async (c) => {
    const rootfs = await ok(['mount', c]);
    try {
      return await fn(rootfs);
    } finally {
      await buildah(['umount', c]);
    }
  });
}
