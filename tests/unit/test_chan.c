/*
 * Unit tests of a channel's rings (src/common/chan.c): bytes come out in
 * the order they went in, across the wrap and in pieces of any size; a
 * full ring takes nothing and an empty one gives nothing; each side sees
 * the other's index only through the shared memory; an index that claims
 * more than a ring holds is refused, on either side.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "common/chan.h"

static struct fr_chan_mem *mem;
static fr_pipe f_out, f_in, p_out, p_in; /* function's and proxy's ends */

static int setup(void **state)
{
	(void)state;
	mem = aligned_alloc(4096, FR_CHAN_SIZE);
	assert_non_null(mem);
	memset(mem, 0, FR_CHAN_SIZE);
	fr_chan_pipes(mem, 0, &f_out, &f_in);
	fr_chan_pipes(mem, 1, &p_out, &p_in);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	return 0;
}

/* Bytes go through in order, in odd-sized pieces, over many wraps, in
 * both directions; the reader never gets more than was written. */
static void test_stream(void **state)
{
	static uint8_t src[3 * FR_CHAN_RING + 777], dst[sizeof(src)];
	fr_pipe *w[2] = {&f_out, &p_out}, *r[2] = {&p_in, &f_in};

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	for (int dir = 0; dir < 2; dir++) {
		size_t in = 0, out = 0, piece = 1;
		memset(dst, 0, sizeof(dst));
		while (out < sizeof(src)) {
			size_t n =
			    piece < sizeof(src) - in ? piece : sizeof(src) - in;
			ssize_t k = fr_pipe_write(w[dir], src + in, n);
			assert_true(k >= 0);
			in += (size_t)k;
			assert_true(in - out <= FR_CHAN_RING);
			k = fr_pipe_read(r[dir], dst + out, piece / 2 + 1);
			assert_true(k >= 0 && out + (size_t)k <= in);
			out += (size_t)k;
			piece = piece * 3 % 9001 + 1;
		}
		assert_memory_equal(src, dst, sizeof(src));
		assert_int_equal(fr_pipe_ready(r[dir], 0), 0);
		assert_int_equal(fr_pipe_ready(w[dir], 1), FR_CHAN_RING);
	}
}

/* A full ring takes nothing more, an empty one gives nothing. */
static void test_full_and_empty(void **state)
{
	static uint8_t buf[FR_CHAN_RING + 10];

	(void)state;
	assert_int_equal(fr_pipe_read(&p_in, buf, 10), 0);
	assert_int_equal(fr_pipe_write(&f_out, buf, sizeof(buf)), FR_CHAN_RING);
	assert_int_equal(fr_pipe_ready(&f_out, 1), 0);
	assert_int_equal(fr_pipe_write(&f_out, buf, 1), 0);
	assert_int_equal(fr_pipe_ready(&p_in, 0), FR_CHAN_RING);
	assert_int_equal(fr_pipe_read(&p_in, buf, 100), 100);
	assert_int_equal(fr_pipe_ready(&f_out, 1), 100);
	assert_int_equal(fr_pipe_read(&p_in, buf, sizeof(buf)),
			 FR_CHAN_RING - 100);
	assert_int_equal(fr_pipe_read(&p_in, buf, 1), 0);
}

/* The other side's index is checked before every use: more than a ring's
 * worth of bytes, or an index behind one's own, is refused and moves
 * nothing. */
static void test_impossible_index(void **state)
{
	uint8_t buf[64] = {0};

	(void)state;
	assert_int_equal(fr_pipe_write(&f_out, buf, 10), 10);
	/* The function claims more written than a ring holds. */
	atomic_store(&mem->req_tail, 10 + FR_CHAN_RING + 1);
	assert_int_equal(fr_pipe_ready(&p_in, 0), -1);
	assert_int_equal(fr_pipe_read(&p_in, buf, sizeof(buf)), -1);
	assert_int_equal(p_in.pos, 0);
	/* ... or less than the proxy already took. */
	atomic_store(&mem->req_tail, 10);
	assert_int_equal(fr_pipe_read(&p_in, buf, sizeof(buf)), 10);
	atomic_store(&mem->req_tail, 5);
	assert_int_equal(fr_pipe_read(&p_in, buf, sizeof(buf)), -1);
	/* The function claims to have taken replies never written. */
	assert_int_equal(fr_pipe_write(&p_out, buf, 20), 20);
	atomic_store(&mem->rep_head, 21);
	assert_int_equal(fr_pipe_write(&p_out, buf, 1), -1);
	assert_int_equal(p_out.pos, 20);
	/* Each side's own index is its own copy: the shared one is only
	 * written, never read back. */
	atomic_store(&mem->rep_head, 20);
	atomic_store(&mem->rep_tail, 12345);
	assert_int_equal(fr_pipe_write(&p_out, buf, 4), 4);
	assert_int_equal(atomic_load(&mem->rep_tail), 24);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_and_empty, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_impossible_index, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
