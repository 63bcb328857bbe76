import { resolve } from 'node:path'
import type { Plugin, ResolvedConfig } from 'vite'
import { writeRelease, type WriteReleaseOptions } from './client-release.ts'

/**
 * Writes release.json (and release.sig for a published release) once the client is on disk,
 * public files included, so the manifest lists exactly what the server will serve.
 */
export function releaseManifestPlugin(options: WriteReleaseOptions): Plugin {
  let config: ResolvedConfig | undefined
  return {
    name: 'tincan:release-manifest',
    apply: 'build',
    configResolved(resolved) {
      config = resolved
    },
    async writeBundle() {
      if (config === undefined) return
      const { manifest, signed } = await writeRelease(resolve(config.root, config.build.outDir), options)
      config.logger.info(
        `release.json: bundle sha256 ${manifest.bundleHash}${signed ? ' (signed release)' : ''}`,
      )
    },
  }
}
