package sock

import "testing"

// sockaddrStorage is sizeof(struct sockaddr_storage): the room libcurl gives
// a destination, which Encode fills.
const sockaddrStorage = 128

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
