/* A JetStream consumer for the NATS output's interop test
 * (tests/interop/test_collector_nats.py): reads every message of a stream
 * from its start through a pull consumer and prints one line per message,
 *   SEQUENCE <TAB> SUBJECT <TAB> NATS-MSG-ID <TAB> DATA
 * then "count N" (N: the stream's message count, which must equal the
 * lines). Usage: natsconsume URL STREAM SUBJECTS */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: natsconsume URL STREAM SUBJECTS\n");
        return 2;
    }
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK)
        s = js_GetStreamInfo(&si, js, argv[2], NULL, &jerr);
    if (s != NATS_OK) {
        fprintf(stderr, "natsconsume: %s (%d)\n", natsStatus_GetText(s), (int)jerr);
        return 1;
    }
    uint64_t total = si->State.Msgs;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = argv[2];
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckPolicy = js_AckExplicit;
    s = js_PullSubscribe(&sub, js, argv[3], NULL, NULL, &so, &jerr);
    uint64_t got = 0;
    while (s == NATS_OK && got < total) {
        natsMsgList list = {0};
        s = natsSubscription_Fetch(&list, sub, 256, 5000, &jerr);
        for (int i = 0; s == NATS_OK && i < list.Count; i++) {
            natsMsg *m = list.Msgs[i];
            const char *id = NULL;
            natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
            jsMsgMetaData *md = NULL;
            uint64_t seq = 0;
            if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
                seq = md->Sequence.Stream;
                jsMsgMetaData_Destroy(md);
            }
            printf("%llu\t%s\t%s\t%.*s\n", (unsigned long long)seq, natsMsg_GetSubject(m),
                   id ? id : "-", natsMsg_GetDataLength(m), natsMsg_GetData(m));
            natsMsg_Ack(m, NULL);
            got++;
        }
        natsMsgList_Destroy(&list);
    }
    printf("count %llu\n", (unsigned long long)total);
    if (s != NATS_OK)
        fprintf(stderr, "natsconsume: %s after %llu of %llu\n", natsStatus_GetText(s),
                (unsigned long long)got, (unsigned long long)total);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK ? 0 : 1;
}
