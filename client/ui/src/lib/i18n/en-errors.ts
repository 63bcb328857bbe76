/**
 * English sentences for failures; which code gets which is decided in one place,
 * client/ui/src/lib/error-texts.ts. Every other language has exactly these keys.
 */
export const enErrors = {
  'err.invalidCredentials': 'Wrong username or password.',
  'err.usernameTaken': 'That username is taken. Try another one.',
  'err.rateLimited': 'Too many attempts. Wait a minute and try again.',
  'err.network': 'Can’t reach the server. Check your connection and try again.',
  'err.badResponse':
    'The server sent an answer Tincan cannot accept, so it was not used. Try again later; if it keeps happening, tell whoever runs the server.',
  'err.sessionEnded': 'You were signed out. Sign in again to continue.',
  'err.notFound': 'Not found.',
  'err.blocked': 'This user can’t be reached.',
  'err.alreadyFriends': 'You are already friends.',
  'err.self': 'That’s you.',
  'err.forbidden': 'Not allowed.',
  'err.tooManyGroups': 'You, or someone you are adding, is already in as many groups as this server allows.',
  'err.weakKdf': 'The server asked for weaker password protection than Tincan allows, so sign-in stopped.',
  'err.identityMismatch': 'Your account keys could not be opened with this password.',
  'err.kdf': 'Key derivation failed in this browser.',
  'err.usernameInvalid': 'Use 3–32 letters, digits, dots, dashes or underscores.',
  'err.passwordShort': 'Use at least 8 characters.',
  'err.passwordMismatch': 'The passwords don’t match.',
  'err.boot': 'Tincan couldn’t start: {reason}',
  'err.action.notFound': 'That message is no longer on this device.',
  'err.action.notAuthor': 'Only the person who sent a message can change it for everyone.',
  'err.action.notEditable': 'Only text messages can be edited.',
  'err.action.deleted': 'That message was deleted.',
  'err.action.invalid': 'That can’t be sent: it is empty or too long.',
  'err.data.wrongPassphrase': 'Wrong passphrase for this backup.',
  'err.data.damaged': 'This backup file is damaged or incomplete.',
  'err.data.notABackup': 'This file is not a Tincan backup.',
  'err.data.unsupportedVersion': 'This backup was made by a newer version of Tincan.',
  'err.data.wrongAccount': 'This backup belongs to another account.',
  'err.data.weakPassphrase': 'The passphrase is too short.',
  'err.data.notFound': 'That conversation is not on this device.',
  'err.data.storageFull': 'This device’s storage is full.',
  'err.data.storageFailed': 'This device could not store the backup’s contents.',
  'err.unexpected': 'Something went wrong. Try again; if it keeps happening, reload the page.',
  'err.badRequest': 'The server refused this request. Check what you entered and try again.',
  'err.protocol':
    'Tincan and this server did not understand each other. Reload the page; if it keeps happening, tell whoever runs the server.',
  'err.tooLarge': 'That is too large for the server to accept.',
  'err.notFriends': 'You are not friends with this user.',
  'err.conflict': 'Something changed on the server meanwhile. Try again.',
  'err.peerOffline': 'They are offline right now.',
  'err.recipientBusy': 'Their device is busy right now. Tincan will try again by itself.',
  'err.tooManySockets':
    'Tincan is open in too many windows or browsers for this account. Close one and try again.',
  'err.serverTrouble': 'The server has a problem right now. Try again in a moment.',
  'err.reviewKey': 'Check this friend’s key first: it changed, or this device has not confirmed it yet.',
  'err.file.badThumbnail': 'The picture’s preview could not be made.',
  'err.file.cancelled': 'The file was cancelled.',
  'err.data.unsupportedValue': 'Some data on this device could not be put into the backup.',
  'err.crypto.notReady': 'Encryption was not ready for this. Try again in a moment.',
  'err.crypto.damaged': 'The data was damaged or altered, so it was not used.',
  'err.crypto.untrusted': 'It was not signed by a key you trust, so it was refused.',
  'err.crypto.outdated': 'It was out of date or had been used before, so it was refused.',
  'err.crypto.noKey': 'The key to read this has not arrived yet.',
  'err.peer.untrustedKey':
    'A connection from {name} was refused: it did not prove the key you accepted for them. If this keeps happening, compare safety numbers.',
  'err.peer.forgedSignal':
    'A connection request for {name} was refused: it was not signed by them, or it was altered or replayed on the way.',
  'err.peer.swappedKeys':
    'A connection to {name} was refused: its encryption keys were swapped on the way, as an eavesdropper in the middle would do.',
  'err.peer.clock':
    'Couldn’t connect to {name}: their connection request was too old. Check that the clock on this device is right.',
  'err.peer.refusedChange': '{name} tried to change a message that is not theirs to change. It was ignored.',
} as const

export type ErrorMessageKey = keyof typeof enErrors
