// Package coretest holds the contract suites every core.Store and core.Blobs implementation must pass.
package coretest
