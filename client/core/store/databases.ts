import { openDB, type DBSchema, type IDBPDatabase } from 'idb'
import {
  groupDbName,
  groupDbVersion,
  upgradeGroupDb,
  type GroupDb,
  type GroupDbSchema,
} from '../groups/group-db.ts'
import { dbName, dbVersion, upgradeHistoryDb, type Db, type TincanDb } from './db.ts'

/**
 * The one module that opens IndexedDB (eslint.config.js keeps it so). Every database the client
 * keeps, and who owns which stores in it:
 *
 * | database                 | stores                                      | owner                                   |
 * | ------------------------ | ------------------------------------------- | --------------------------------------- |
 * | `tincan:<user>`          | messages, conversations                     | store/history.ts                        |
 * |                          | outbox                                      | outbox.ts                               |
 * |                          | files, fileChunks                           | files/file-store.ts                     |
 * |                          | contacts                                    | trust.ts                                |
 * |                          | sessions, meta                              | peer/session-store.ts, account.ts, trust.ts |
 * | `tincan-groups:<user>`   | groups, senders, chains, copies             | groups/group-store.ts                   |
 * | `tincan:device`          | device (the remembered session)             | account.ts                              |
 * | `tincan:dtls`            | certificates                                | peer/dtls-certificate.ts                |
 *
 * A change that spans owners (deleting a message with its outbox entry and its file) runs in one
 * transaction that the owners' functions take part in (`outboxIn`, `eraseFileIn`), so it is atomic.
 */

/** The account's database: history, outbox, files, contacts and sessions. In Node, tests install fake-indexeddb. */
export function openHistoryDb(username: string): Promise<Db> {
  return openDB<TincanDb>(dbName(username), dbVersion, {
    upgrade: (db, oldVersion, _newVersion, tx) => upgradeHistoryDb(db, oldVersion, tx),
  })
}

/** The account's group protocol state (groups/group-db.ts). */
export function openGroupDb(username: string): Promise<GroupDb> {
  return openDB<GroupDbSchema>(groupDbName(username), groupDbVersion, {
    upgrade: (db, oldVersion) => upgradeGroupDb(db, oldVersion),
  })
}

interface DeviceDb extends DBSchema {
  device: { key: string; value: unknown }
}

/** This browser's remembered session (account.ts). */
export function openDeviceDb(): Promise<IDBPDatabase<DeviceDb>> {
  return openDB<DeviceDb>('tincan:device', 1, {
    upgrade(db) {
      db.createObjectStore('device')
    },
  })
}

interface CertificateDb extends DBSchema {
  certificates: { key: string; value: unknown }
}

/** This browser's DTLS certificate (peer/dtls-certificate.ts). */
export function openCertificateDb(): Promise<IDBPDatabase<CertificateDb>> {
  return openDB<CertificateDb>('tincan:dtls', 1, {
    upgrade(db) {
      db.createObjectStore('certificates')
    },
  })
}
