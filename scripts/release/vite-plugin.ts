import { resolve } from 'node:path'
import type { Plugin, ResolvedConfig } from 'vite'
import { addSubresourceIntegrity, writeRelease, type WriteReleaseOptions } from './client-release.ts'

/**
 * Once the client is on disk, public files included: adds Subresource Integrity to index.html,
 * then writes release.json (and release.sig for a published release), so the manifest lists
 * exactly what the server will serve.
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
      const outDir = resolve(config.root, config.build.outDir)
      addSubresourceIntegrity(outDir)
      const { manifest, signed } = await writeRelease(outDir, options)
      config.logger.info(
        `release.json: bundle sha256 ${manifest.bundleHash}${signed ? ' (signed release)' : ''}`,
      )
    },
  }
}
