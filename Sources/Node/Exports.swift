// The command-line tool imports this module only: it names the domain's vocabulary (channels,
// events, configurations) through these re-exports, and builds nothing itself.
@_exported import Channels
@_exported import Chat
@_exported import EventStore
@_exported import Gateway
@_exported import Ingest
@_exported import Packager
@_exported import Quality
@_exported import Transcode
