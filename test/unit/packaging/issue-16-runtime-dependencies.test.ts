// Issue 16, item 6: operators install with `npm ci --omit=dev`, then `npm start` builds the web
// client and runs the server. Every package that the server, the client build or the operators'
// scripts load must therefore be a dependency: a devDependency is missing on their machines.
// (scripts/check-install.mjs does the real install on a clean clone; .ci/run runs it.)
import { readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { extname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../../..')
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

/** What runs on an operator's machine: the server, everything the client build bundles, the scripts they run. */
const shippedFolders = ['signaling', 'shared', 'crypto', 'client', 'scripts']
const shippedFiles = ['vite.config.ts', 'svelte.config.js']
const sourceExtensions = new Set(['.ts', '.mts', '.js', '.mjs', '.svelte'])

function sourceFiles(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && sourceExtensions.has(extname(e.name)) && !e.name.endsWith('.d.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)))
}

/** The code of a file as TypeScript sees it: a Svelte component's <script> blocks only. */
function scriptOf(file: string): string {
  const text = readFileSync(join(root, file), 'utf8')
  if (!file.endsWith('.svelte')) return text
  return [...text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n')
}

/** Module names loaded when the file runs: imports, re-exports and import(), not `import type`. */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, scriptOf(file), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  const found: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && node.importClause?.isTypeOnly !== true) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text)
    } else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier !== undefined) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text)
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push(node.arguments[0].text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** `@scope/name/sub/path` → `@scope/name`, `name/sub` → `name`; undefined for relative paths and Node's own modules. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:'))
    return undefined
  if (builtinModules.includes(specifier)) return undefined
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** Each package the shipped code loads, with the first file that loads it. */
function shippedPackages(): Map<string, string> {
  const packages = new Map<string, string>()
  for (const file of [...shippedFolders.flatMap(sourceFiles), ...shippedFiles])
    for (const specifier of runtimeImports(file)) {
      const name = packageOf(specifier)
      if (name !== undefined && !packages.has(name)) packages.set(name, file)
    }
  return packages
}

describe('an operator install (npm ci --omit=dev)', () => {
  it('has every package that the server, the client build and the scripts load', () => {
    const packages = shippedPackages()
    // The scan sees the client and the build, or it proves nothing.
    expect([...packages.keys()]).toEqual(
      expect.arrayContaining(['fastify', 'vite', 'svelte', 'libsodium-wrappers-sumo']),
    )

    const missing = [...packages]
      .filter(([name]) => manifest.dependencies[name] === undefined)
      .map(
        ([name, file]) =>
          `${name} (loaded by ${file}${name in manifest.devDependencies ? ', a devDependency' : ''})`,
      )
    expect(missing).toEqual([])
  })
})
