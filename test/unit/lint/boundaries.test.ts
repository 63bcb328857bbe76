import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../../helpers/server.ts'

/**
 * The boundaries between the parts are kept by the linter (eslint.config.js), not by memory:
 * each crossing below, written into a real file of the part, fails `npm run lint`.
 */
const eslint = new ESLint({ cwd: repoRoot })

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${repoRoot}/${filePath}` })
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('the boundaries between the parts', () => {
  it('stop the UI from importing crypto/ or a deep path of the client core', async () => {
    const file = 'client/ui/src/lib/format.ts'
    expect(
      await restrictedImports(
        file,
        "import { History } from '../../../core/store/history.ts'\nvoid History\n",
      ),
    ).toHaveLength(1)
    expect(
      await restrictedImports(file, "import { sha256 } from '../../../../crypto/index.ts'\nvoid sha256\n"),
    ).toHaveLength(1)
    expect(
      await restrictedImports(
        file,
        "import { TincanClient } from '../../../core/index.ts'\nvoid TincanClient\n",
      ),
    ).toEqual([])
  })

  it('stop browser tests from importing a deep path of the client core', async () => {
    const file = 'test/e2e/app.ts'
    expect(
      await restrictedImports(
        file,
        "import { Messenger } from '../../client/core/messenger.ts'\nvoid Messenger\n",
      ),
    ).toHaveLength(1)
  })

  it('let only the storage owner open IndexedDB', async () => {
    const opening = "import { openDB } from 'idb'\nvoid openDB\n"
    expect(await restrictedImports('client/core/outbox.ts', opening)).toHaveLength(1)
    expect(await restrictedImports('client/core/store/databases.ts', opening)).toEqual([])
    expect(
      await restrictedImports('client/core/outbox.ts', "import type { IDBPDatabase } from 'idb'\n"),
    ).toEqual([])
  })

  it('stop the client core from importing the UI or the server', async () => {
    const file = 'client/core/outbox.ts'
    expect(
      await restrictedImports(file, "import { t } from '../ui/src/lib/i18n/i18n.svelte.ts'\nvoid t\n"),
    ).toHaveLength(1)
    expect(
      await restrictedImports(file, "import { buildApp } from '../../signaling/app.ts'\nvoid buildApp\n"),
    ).toHaveLength(1)
  })

  it('keep crypto/ and shared/ to themselves', async () => {
    expect(
      await restrictedImports('crypto/hkdf.ts', "import { Api } from '../client/core/api.ts'\nvoid Api\n"),
    ).toHaveLength(1)
    expect(
      await restrictedImports(
        'crypto/hkdf.ts',
        "import { readFileSync } from 'node:fs'\nvoid readFileSync\n",
      ),
    ).toHaveLength(1)
    expect(
      await restrictedImports(
        'crypto/hkdf.ts',
        "import { limits } from '../shared/limits.ts'\nvoid limits\n",
      ),
    ).toEqual([])
    expect(
      await restrictedImports(
        'shared/limits.ts',
        "import { sha256 } from '../crypto/index.ts'\nvoid sha256\n",
      ),
    ).toHaveLength(1)
    expect(
      await restrictedImports('shared/limits.ts', "import { openDB } from 'idb'\nvoid openDB\n"),
    ).toHaveLength(1)
  })
})
