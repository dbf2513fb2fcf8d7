module github.com/curlsock/curlsock

go 1.26.0

require (
	github.com/andelf/go-curl v0.0.0-20250312014544-8683354c1636
	github.com/google/go-cmp v0.7.0
	github.com/mccutchen/go-httpbin/v2 v2.26.0
	golang.org/x/sys v0.49.0
)
