"""Appeals, complaints and reports (Art. 12): classified, routed to a team queue with the
published response deadline, tracked until a reviewer decides, and the decision put into
effect. Pure: the streams layer keeps the state in Faust tables and moves the records."""
