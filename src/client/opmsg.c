/*
 * Public operations (ferry_op) and wire messages, both ways, in one place:
 * libferry turns an op into a request and a reply into the op's results,
 * and the proxy does the reverse for the functions it serves. A field
 * added to ferry_op is carried in every mode once it is mapped here.
 */
#include <string.h>

#include "client/client_int.h"

static const uint8_t wire_op[] = {
	[FERRY_OP_PUT] = FR_OP_PUT,	  [FERRY_OP_GET] = FR_OP_GET,
	[FERRY_OP_DEL] = FR_OP_DEL,	  [FERRY_OP_STAT] = FR_OP_STAT,
	[FERRY_OP_INCR] = FR_OP_INCR,	  [FERRY_OP_EXPIRE] = FR_OP_EXPIRE,
};

/* PUT flags: the API's bits and the header's. */
static const struct {
	unsigned api;
	uint16_t wire;
} put_flags[] = {
	{FERRY_PUT_CREATE, FR_F_CREATE},
	{FERRY_PUT_REPLACE, FR_F_REPLACE},
	{FERRY_PUT_KEEPTTL, FR_F_KEEPTTL},
	{FERRY_PUT_AS_APPEND, FR_F_AS_APPEND},
	{FERRY_PUT_AS_SETRANGE, FR_F_AS_SETRANGE},
};

_Static_assert(FERRY_EXPIRE_NX == FR_EXPIRE_NX &&
		       FERRY_EXPIRE_XX == FR_EXPIRE_XX &&
		       FERRY_EXPIRE_GT == FR_EXPIRE_GT &&
		       FERRY_EXPIRE_LT == FR_EXPIRE_LT,
	       "EXPIRE conditions travel as the API's bits");

void fr_op_to_request(const ferry_op *op, fr_msg *m)
{
	fr_msg_init(m, wire_op[op->opcode], 0, 0);
	m->blob[0] = op->key;
	m->w[0] = op->klen; /* every keyed request has klen as word 0 */
	switch (op->opcode) {
	case FERRY_OP_PUT:
		for (size_t i = 0; i < sizeof(put_flags) / sizeof(put_flags[0]);
		     i++)
			if (op->flags & put_flags[i].api)
				m->h.flags |= put_flags[i].wire;
		m->w[FR_PUT_VLEN] = op->len;
		m->w[FR_PUT_EXPIRE] = op->expire_ms;
		m->w[FR_PUT_IFVER] = op->if_version;
		break;
	case FERRY_OP_GET:
		m->w[FR_GET_OFFSET] = op->offset;
		m->w[FR_GET_LEN] = op->len;
		break;
	case FERRY_OP_DEL:
		m->w[FR_DEL_IFVER] = op->if_version;
		break;
	case FERRY_OP_INCR:
		m->w[FR_INCR_DELTA] = (uint64_t)op->delta;
		if (op->flags & FERRY_INCR_TEXT)
			m->h.flags |= FR_F_TEXT;
		break;
	case FERRY_OP_EXPIRE:
		m->w[FR_EXPIRE_EXPIRE] = op->expire_ms;
		m->w[FR_EXPIRE_COND] = op->flags;
		break;
	case FERRY_OP_STAT:
		break;
	}
}

int fr_op_from_request(const fr_msg *q, ferry_op *op)
{
	op->opcode = 0;
	for (unsigned i = 1; i < sizeof(wire_op); i++)
		if (wire_op[i] == q->h.opcode)
			op->opcode = (ferry_opcode)i;
	if (!op->opcode)
		return FERRY_EPROTO;
	op->key = q->blob[0];
	op->klen = q->blen[0];
	switch (op->opcode) {
	case FERRY_OP_PUT:
		op->flags = 0;
		for (size_t i = 0; i < sizeof(put_flags) / sizeof(put_flags[0]);
		     i++)
			if (q->h.flags & put_flags[i].wire)
				op->flags |= put_flags[i].api;
		op->len = q->w[FR_PUT_VLEN];
		op->expire_ms = q->w[FR_PUT_EXPIRE];
		op->if_version = q->w[FR_PUT_IFVER];
		break;
	case FERRY_OP_GET:
		op->offset = q->w[FR_GET_OFFSET];
		op->len = q->w[FR_GET_LEN];
		break;
	case FERRY_OP_DEL:
		op->if_version = q->w[FR_DEL_IFVER];
		break;
	case FERRY_OP_INCR:
		op->delta = (int64_t)q->w[FR_INCR_DELTA];
		op->flags = q->h.flags & FR_F_TEXT ? FERRY_INCR_TEXT : 0;
		break;
	case FERRY_OP_EXPIRE:
		op->expire_ms = q->w[FR_EXPIRE_EXPIRE];
		op->flags = (unsigned)q->w[FR_EXPIRE_COND];
		break;
	case FERRY_OP_STAT:
		break;
	}
	return 0;
}

void fr_op_to_reply(const ferry_op *op, fr_msg *rep)
{
	switch (op->opcode) {
	case FERRY_OP_GET:
		rep->w[FR_GET_R_GOT] = op->result;
		__attribute__((fallthrough)); /* GET replies carry metadata */
	case FERRY_OP_STAT:
		rep->w[FR_GET_R_SIZE] = op->stat.size;
		rep->w[FR_GET_R_CTIME] = op->stat.ctime_ns;
		rep->w[FR_GET_R_VERSION] = op->stat.version;
		rep->w[FR_GET_R_EXPIRE] = op->stat.expire_ms;
		break;
	case FERRY_OP_PUT:
		rep->w[FR_PUT_R_VERSION] = op->stat.version;
		break;
	case FERRY_OP_INCR:
		rep->w[FR_INCR_R_VALUE] = (uint64_t)op->counter;
		break;
	case FERRY_OP_EXPIRE:
		rep->w[FR_EXPIRE_R_CHANGED] = (uint64_t)op->counter;
		break;
	case FERRY_OP_DEL:
		break;
	}
}

void fr_op_from_reply(const fr_msg *rep, ferry_op *op)
{
	switch (op->opcode) {
	case FERRY_OP_GET:
		op->result = (size_t)rep->w[FR_GET_R_GOT];
		__attribute__((fallthrough));
	case FERRY_OP_STAT:
		op->stat.size = rep->w[FR_GET_R_SIZE];
		op->stat.ctime_ns = rep->w[FR_GET_R_CTIME];
		op->stat.version = rep->w[FR_GET_R_VERSION];
		op->stat.expire_ms = rep->w[FR_GET_R_EXPIRE];
		break;
	case FERRY_OP_PUT:
		op->stat.size = op->len;
		op->stat.version = rep->w[FR_PUT_R_VERSION];
		break;
	case FERRY_OP_INCR:
		op->counter = (int64_t)rep->w[FR_INCR_R_VALUE];
		break;
	case FERRY_OP_EXPIRE:
		op->counter = (int64_t)rep->w[FR_EXPIRE_R_CHANGED];
		break;
	case FERRY_OP_DEL:
		break;
	}
}
