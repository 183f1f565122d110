"""The 奇门 (Qimen) WMS standard: the bridge plays the ERP side towards a 3PL cloud warehouse.

Outbound, ``QimenClient`` posts signed XML ``<request>`` documents to the 奇门 gateway
(``taobao.qimen.*`` methods, v 2.0); inbound, ``inbound.read_callback`` verifies a call the
WMS sends through the gateway to ``POST /qimen/callback`` and reads its document. Nothing
outside this package knows the sign, the XML or the gateway's error codes.
"""
