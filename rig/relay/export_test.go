package relay

// MaxChunk exposes maxChunk to the external tests: the most bytes the relay holds back.
const MaxChunk = maxChunk
