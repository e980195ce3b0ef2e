// SPDX-License-Identifier: MIT
#pragma once

// The operation codes of the fuzz targets' scripts, shared by the targets and by the seed
// generator (make_corpus.cpp) so the two cannot drift apart. Each target's source describes
// its input format; a script step is one byte, the operation in the low nibble and its argument
// in the high nibble, some operations reading operands from the bytes after it.

#include <cstdint>

namespace xnv::fuzz {

/// A script step: operation `o` with argument `arg` (0..15).
constexpr std::uint8_t step(std::uint32_t o, std::uint32_t arg = 0)
{
    return static_cast<std::uint8_t>((o & 0x0F) | ((arg & 0x0F) << 4));
}

namespace ring_format {
enum op : std::uint8_t {
    op_pending = 0,         // pending()
    op_consume,             // one consume() of arg + 1 entries
    op_drain,               // consume() batches of arg + 1 until nothing is left
    op_try_consume,         // try_consume() of one entry
    op_discard,             // discard(arg), or discard() for arg 15
    op_final_check,         // final_check(arg)
    op_produce,             // produce arg & 7 entries, then push() (arg & 8) or publish()
    op_peek_release,        // peek every pending entry, then release_consumed(arg)
    op_peer_index_delta,    // the peer sets its producer index to consumed() + next u32
    op_peer_index_abs,      // the peer sets its producer index to the next u32
    op_peer_rewrite_slot,   // the peer rewrites slot (next u16) with the next slot-size bytes
    op_wait_spin,           // wait_pending(spin, 0 ns, arg)
    op_reserve_commit,      // fill arg reserved slots in place, commit(arg)
    op_peer_event,          // the peer sets its event index to the next u32
    op_publish_unpublished, // push() (arg & 1) or publish() whatever was produced
    op_wait_futex,          // wait_pending(futex, 0 ns, arg): arms the event, never sleeps
};
} // namespace ring_format

namespace netback_format {
enum tx_op : std::uint8_t {
    tx_write_raw = 0,  // frontend writes arg + 1 requests (12 script bytes each) at its index
    tx_publish,        // req_prod = the frontend's index
    tx_req_prod,       // req_prod = consumed() + next u32 (hostile)
    tx_rewrite,        // frontend rewrites the slot consumed arg + 1 slots ago (12 script bytes)
    tx_parse_all,      // parse and answer until empty/incomplete/fatal, then push
    tx_parse_one,      // parse once and answer now
    tx_parse_hold,     // parse once and hold the packet unanswered (up to 4 held)
    tx_answer_held,    // answer held packet arg % held
    tx_answer_twice,   // answer the last answered packet again: refused when nothing is owed
    tx_answer_badspan, // per-slot statuses of the wrong length: refused
    tx_final_check,    // the backend arms its event index
    tx_write_packet,   // frontend writes a well-formed packet (see write_packet), advances its index
};

enum rx_op : std::uint8_t {
    rx_post_raw = 0,  // frontend posts arg + 1 requests (8 script bytes each)
    rx_post_good,     // frontend posts arg + 1 requests {id = index & mask, gref}
    rx_publish,       // req_prod = the frontend's index
    rx_req_prod,      // req_prod = consumed() + next u32 (hostile)
    rx_rewrite,       // frontend rewrites the slot consumed arg + 1 slots ago (8 script bytes)
    rx_reserve,       // reserve a packet (info from the script), hold the plan (up to 4)
    rx_respond,       // fail the data slots whose bit is set in arg, respond the oldest plan
    rx_respond_wrong, // respond a plan other than the oldest: refused
    rx_deliver,       // deliver a packet (info from the script); copy fails on slots in arg
    rx_available,     // available(); on a shortfall, arm the event for it
};
} // namespace netback_format

namespace netfront_format {
enum rx_op : std::uint8_t {
    rx_post = 0,     // post arg + 1 buffers (returned ones first, then new), push
    rx_write_raw,    // backend writes arg + 1 responses (8 script bytes each) at its index
    rx_write_packet, // backend writes a well-formed packet: u32 size, u8 bits (see the target)
    rx_publish,      // rsp_prod = the backend's index
    rx_rsp_prod,     // rsp_prod = consumed() + next u32 (hostile)
    rx_poll,         // poll with budget arg (0: unlimited)
    rx_poll_all,     // poll with budget arg + 1 until nothing is consumed
};

enum tx_op : std::uint8_t {
    tx_submit = 0,     // try_submit: u8 count, u8 bits, u16 first size, u16 later size, u16 offset
    tx_submit_chunks,  // try_submit_chunks: u32 length, u16 first offset, u8 bits, u8 bad chunk
    tx_push,           // push the requests
    tx_write_raw,      // backend writes arg + 1 responses (4 script bytes each) at its index
    tx_answer,         // backend answers the arg + 1 oldest unanswered slots correctly
    tx_answer_swapped, // backend answers the two oldest unanswered slots in swapped order
    tx_publish,        // rsp_prod = the backend's index
    tx_rsp_prod,       // rsp_prod = consumed() + next u32 (hostile)
    tx_reclaim,        // reclaim with budget arg (0: unlimited)
};
} // namespace netfront_format

namespace grant_format {
enum op : std::uint8_t {
    op_copy = 0,   // one copy: operands as read_copy in grant_copy.cpp
    op_copy_batch, // arg + 1 copies in one call
    op_map,        // try_map: u8 ref, access read-write when arg & 1; held (up to 4) when it succeeds
    op_unmap,      // the held mapping arg % held: unpin (arg & 4: by move-assigning another onto it)
    op_scribble,   // the peer writes an entry word: u8 ref, u8 word (0 header, 1 frame, 2 window,
                   // 3 reserved), u32 value
    op_set_header, // the peer writes a header: u8 ref, u16 flags, u8 domain (0: ours, else that - 1)
    op_alloc_page, // granting side (mode 1): try_allocate_page
    op_grant,      // granting side: u8 page pick, u16 window offset, u16 window length (0: whole
                   // page), u8 domain (as set_header); arg & 1: read-only
    op_end,        // granting side: try_end(u8 ref)
    op_free_page,  // granting side: free_page(u8 page)
};
} // namespace grant_format

} // namespace xnv::fuzz
