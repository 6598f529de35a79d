// Package archtest holds tests of the shape of the code: every package has
// a doc comment, and imports point one way along the data flow (the relay
// can never import the code that opens letters).
package archtest
