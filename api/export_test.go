package api

// RequestHash is requestHash, for tests that claim a key as a request would.
var RequestHash = requestHash
