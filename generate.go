//go:build linux

package curl

//go:generate go run ./internal/gen/gocurlapi
//go:generate go run ./internal/gen/curlh
