/* libFuzzer harness for the CSV reader. The first input byte picks the options (delimiter,
   header, label mode and kind); the rest is the CSV text. A size query that succeeds must be
   followed by a read into exactly that many bytes that succeeds too. */
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"
#include <stdlib.h>

static tt_ctx ctx;
static int ready;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static const char delims[4] = {',', ';', '\t', ' '};
    tt_csv_opts o = tt_csv_opts_init();
    size_t bytes = 0;
    unsigned sel;
    if (!ready) {
        tt_desc d;
        memset(&d, 0, sizeof d);
        d.max_params = 16;
        d.scratch_bytes = 1 << 12;
        d.persist_bytes = 1 << 12;
        if (tt_ctx_init(&ctx, &d) != TT_OK) abort();
        ready = 1;
    }
    if (size < 1) return 0;
    sel = data[0];
    data++;
    size--;
    o.delimiter = delims[sel & 3];
    o.header = (sel >> 2) & 1;
    o.label = (tt_csv_label)((sel >> 3) % 3);
    if (o.label == TT_CSV_LABEL_NAME && !o.header) o.label = TT_CSV_LABEL_INDEX;
    o.label_index = (int)((sel >> 5) & 1);
    o.label_name = "y";
    o.label_is_class = !((sel >> 6) & 1);
    if (tt_csv_size(&ctx, data, size, &o, &bytes) == TT_OK) {
        tt_csv c;
        unsigned char *mem = (unsigned char *)malloc(bytes);
        int r, k;
        size_t i;
        r = tt_csv_read(&ctx, data, size, &o, mem, bytes, &c);
        if (r != TT_OK) abort();
        /* touch everything the result points to */
        for (i = 0; i < (size_t)c.rows * (size_t)c.cols; i++) (void)(c.x[i] == 0.0f);
        if (c.y)
            for (k = 0; k < c.rows; k++)
                if (c.y[k] < 0 || c.y[k] >= c.n_classes) abort();
        if (c.class_names)
            for (k = 0; k < c.n_classes; k++) (void)strlen(c.class_names[k]);
        if (c.col_names)
            for (k = 0; k < c.cols; k++) (void)strlen(c.col_names[k]);
        free(mem);
    }
    tt_clear_error(&ctx);
    return 0;
}
